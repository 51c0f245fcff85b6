"""`{prefix}-idempotency`: pk `recordKey` (`{tenantId}#{key}`), TTL `expiresAt`. Every write is conditional, so two
requests racing for one key never both run."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.idempotency.rules import IdempotencyRecord, RecordState, StoredAnswer

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

_FAILED = "ConditionalCheckFailedException"


def _record(item: dict[str, Any]) -> IdempotencyRecord:
    answer = None
    if "status" in item:
        answer = StoredAnswer(
            status=int(item["status"]["N"]),
            body=base64.b64decode(item["body"]["S"]),
            content_type=item.get("contentType", {}).get("S", "application/json"),
        )
    return IdempotencyRecord(
        state=RecordState(item["state"]["S"]),
        expires_at=int(item["expiresAt"]["N"]),
        lease_until=int(item.get("leaseUntil", {}).get("N", "0")),
        owner=item.get("owner", {}).get("S", ""),
        fingerprint=item.get("fingerprint", {}).get("S", ""),
        answer=answer,
    )


class IdempotencyStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    @staticmethod
    def _key(tenant_id: str, key: str) -> dict[str, Any]:
        return {"recordKey": {"S": f"{tenant_id}#{key}"}}

    async def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        response = await self._db.get_item(TableName=self._table, Key=self._key(tenant_id, key), ConsistentRead=True)
        item = response.get("Item")
        return _record(dict(item)) if item else None

    async def claim(self, tenant_id: str, key: str, owner: str, now: int, lease_until: int, expires_at: int) -> bool:
        """Take the key for one run: only when no record lives (absent, or past its expiry). False: someone has it."""
        try:
            await self._db.put_item(
                TableName=self._table,
                Item=self._key(tenant_id, key)
                | {
                    "state": {"S": RecordState.IN_PROGRESS.value},
                    "owner": {"S": owner},
                    "leaseUntil": {"N": str(lease_until)},
                    "expiresAt": {"N": str(expires_at)},
                },
                ConditionExpression="attribute_not_exists(recordKey) OR expiresAt <= :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _FAILED:
                return False
            raise
        return True

    async def complete(
        self, tenant_id: str, key: str, owner: str, request_fingerprint: str, answer: StoredAnswer, expires_at: int
    ) -> None:
        """Keep the answer, if this run still holds the claim (a run whose lease was taken over keeps nothing)."""
        try:
            await self._db.update_item(
                TableName=self._table,
                Key=self._key(tenant_id, key),
                UpdateExpression=(
                    "SET #s = :done, fingerprint = :f, #st = :status, body = :body, contentType = :ct, "
                    "expiresAt = :exp REMOVE leaseUntil"
                ),
                ConditionExpression="#s = :running AND #o = :owner",
                ExpressionAttributeNames={"#s": "state", "#st": "status", "#o": "owner"},
                ExpressionAttributeValues={
                    ":done": {"S": RecordState.COMPLETED.value},
                    ":running": {"S": RecordState.IN_PROGRESS.value},
                    ":owner": {"S": owner},
                    ":f": {"S": request_fingerprint},
                    ":status": {"N": str(answer.status)},
                    ":body": {"S": base64.b64encode(answer.body).decode()},
                    ":ct": {"S": answer.content_type},
                    ":exp": {"N": str(expires_at)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _FAILED:
                raise

    async def release(self, tenant_id: str, key: str, owner: str | None = None, lease_until: int | None = None) -> None:
        """Remove an in-progress claim: this run's (`owner`), or an abandoned one (the `lease_until` read)."""
        names = {"#s": "state"}
        values: dict[str, Any] = {":running": {"S": RecordState.IN_PROGRESS.value}}
        condition = "#s = :running"
        if owner is not None:
            condition += " AND #o = :owner"
            names["#o"] = "owner"
            values[":owner"] = {"S": owner}
        if lease_until is not None:
            condition += " AND leaseUntil = :lease"
            values[":lease"] = {"N": str(lease_until)}
        try:
            await self._db.delete_item(
                TableName=self._table,
                Key=self._key(tenant_id, key),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _FAILED:
                raise
