"""The delivery ledger (`{prefix}-ledger`, written by the processor), seen from retry-failed: find the `failed`
recipients and put the retryable ones back to `pending`, taking them out of the campaign's counters in the same
transaction so the processor counts their new outcome exactly once (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_common.delivery_states import LedgerState, ledger_move

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

# DynamoDB transactions hold at most 100 actions: 99 ledger entries plus the campaign's counters.
TRANSACTION_MAX_ENTRIES = 99
_RESET = (
    "SET #s = :pending, updatedAt = :now, retryCall = :call "
    "REMOVE counted, leaseOwner, leaseExpiresAt, messageId, reason"
)
# retry-failed's move (`failed` → `pending`), with its condition from the kit (herald_common.delivery_states).
RETRY = ledger_move("retry_failed")
_RETRYABLE, _RETRYABLE_VALUES = RETRY.condition()
# Not reset twice by one call (a resumed call finds what it reset already `pending`, or `failed` again).
_NOT_THIS_CALL = "(attribute_not_exists(retryCall) OR retryCall <> :call)"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoLedger:
    """The `Ledger` port over the ledger and campaigns tables."""

    def __init__(self, dynamodb: DynamoDBClient, ledger_table: str, campaigns_table: str) -> None:
        self._db = dynamodb
        self._ledger = ledger_table
        self._campaigns = campaigns_table

    async def failed(self, tenant_id: str, campaign_id: str) -> AsyncIterator[tuple[str, str | None, bool]]:
        kwargs: dict[str, Any] = {
            "TableName": self._ledger,
            "KeyConditionExpression": "campaignKey = :k",
            "FilterExpression": "#s = :failed",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {
                ":k": {"S": f"{tenant_id}#{campaign_id}"},
                ":failed": {"S": LedgerState.FAILED.value},
            },
            "ConsistentRead": True,
        }
        while True:
            page = await self._db.query(**kwargs)
            for item in page.get("Items", []):
                reason = item.get("reason", {}).get("S")
                yield item["email"]["S"], reason, bool(item.get("counted", {}).get("BOOL", False))
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def marked(self, tenant_id: str, campaign_id: str, call: int) -> AsyncIterator[str]:
        kwargs: dict[str, Any] = {
            "TableName": self._ledger,
            "KeyConditionExpression": "campaignKey = :k",
            "FilterExpression": "retryCall = :call",
            "ExpressionAttributeValues": {":k": {"S": f"{tenant_id}#{campaign_id}"}, ":call": {"N": str(call)}},
            "ProjectionExpression": "email",
            "ConsistentRead": True,
        }
        while True:
            page = await self._db.query(**kwargs)
            for item in page.get("Items", []):
                yield item["email"]["S"]
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def reset(
        self,
        tenant_id: str,
        campaign_id: str,
        entries: Sequence[tuple[str, str | None, bool]],
        *,
        call: int,
        now: str,
    ) -> list[str]:
        reset: list[str] = []
        counted = [e for e in entries if e[2]]
        for start in range(0, len(counted), TRANSACTION_MAX_ENTRIES):
            chunk = counted[start : start + TRANSACTION_MAX_ENTRIES]
            reset += await self._reset_counted(tenant_id, campaign_id, chunk, call, now)
        for email, reason, _ in (e for e in entries if not e[2]):
            # Failed but not counted yet: the processor will not count it once it is pending again.
            try:
                await self._db.update_item(
                    TableName=self._ledger,
                    Key=self._key(tenant_id, campaign_id, email),
                    UpdateExpression=_RESET,
                    ConditionExpression=f"{_RETRYABLE} AND attribute_not_exists(counted) AND reason = :reason AND "
                    + _NOT_THIS_CALL,
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues=self._values(reason, call, now),
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                continue
            reset.append(email)
        return reset

    def _key(self, tenant_id: str, campaign_id: str, email: str) -> dict[str, Any]:
        return {"campaignKey": {"S": f"{tenant_id}#{campaign_id}"}, "email": {"S": email}}

    @staticmethod
    def _values(reason: str | None, call: int, now: str) -> dict[str, Any]:
        return _RETRYABLE_VALUES | {
            ":pending": {"S": RETRY.target.value},
            ":reason": {"S": reason or ""},
            ":call": {"N": str(call)},
            ":now": {"S": now},
        }

    async def _reset_counted(
        self, tenant_id: str, campaign_id: str, chunk: Sequence[tuple[str, str | None, bool]], call: int, now: str
    ) -> list[str]:
        pending = list(chunk)
        for attempt in range(6):
            if not pending:
                return []
            actions: list[Any] = [
                {
                    "Update": {
                        "TableName": self._ledger,
                        "Key": self._key(tenant_id, campaign_id, email),
                        "UpdateExpression": _RESET,
                        "ConditionExpression": f"{_RETRYABLE} AND counted = :true AND reason = :reason AND "
                        + _NOT_THIS_CALL,
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": self._values(reason, call, now) | {":true": {"BOOL": True}},
                    }
                }
                for email, reason, _ in pending
            ]
            actions.append(
                {
                    "Update": {
                        "TableName": self._campaigns,
                        "Key": {"tenantId": {"S": tenant_id}, "campaignId": {"S": campaign_id}},
                        "UpdateExpression": "ADD finalCount :minus, failedCount :minus, statsVersion :one "
                        "SET updatedAt = :now",
                        "ConditionExpression": "attribute_exists(campaignId)",
                        "ExpressionAttributeValues": {
                            ":minus": {"N": str(-len(pending))},
                            ":one": {"N": "1"},
                            ":now": {"S": now},
                        },
                    }
                }
            )
            try:
                await self._db.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                if len(reasons) > len(pending) and reasons[len(pending)].get("Code") == "ConditionalCheckFailed":
                    return []  # the campaign is gone
                # An entry that changed since it was read (counted, retried by a concurrent call) drops out.
                changed = {
                    entry[0]
                    for entry, r in zip(pending, reasons, strict=False)
                    if r.get("Code") == "ConditionalCheckFailed"
                }
                pending = [e for e in pending if e[0] not in changed]
                await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
                continue
            return [email for email, _, _ in pending]
        raise RuntimeError("resetting failed recipients kept conflicting")
