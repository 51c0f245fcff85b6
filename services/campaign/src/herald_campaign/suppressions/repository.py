"""Every DynamoDB expression on the `{prefix}-suppressions` table (pk tenantId, sk email)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.dynamo import from_item, to_item

if TYPE_CHECKING:
    from collections.abc import Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_campaign.dynamo import Item


@dataclass(frozen=True)
class Suppression:
    tenant_id: str
    email: str
    reason: str
    created_at: str
    campaign_id: str | None = None

    @classmethod
    def from_values(cls, v: dict[str, Any]) -> Suppression:
        return cls(v["tenantId"], v["email"], v.get("reason", "manual"), v.get("createdAt", ""), v.get("campaignId"))


class DynamoSuppressionStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def add(self, s: Suppression) -> tuple[Suppression, bool]:
        """Put the address on the list unless it is there already: (the entry as stored, whether it is new).

        An existing entry is kept as it is, so an unsubscribe never hides an earlier bounce or complaint."""
        values = {
            "tenantId": s.tenant_id,
            "email": s.email,
            "reason": s.reason,
            "createdAt": s.created_at,
            "campaignId": s.campaign_id,
        }
        try:
            await self._db.put_item(
                TableName=self._table, Item=to_item(values), ConditionExpression="attribute_not_exists(email)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = await self.get(s.tenant_id, s.email)
            return (existing or s), False
        return s, True

    async def get(self, tenant_id: str, email: str) -> Suppression | None:
        response = await self._db.get_item(
            TableName=self._table, Key=to_item({"tenantId": tenant_id, "email": email}), ConsistentRead=True
        )
        item = response.get("Item")
        return Suppression.from_values(from_item(item)) if item else None

    async def suppressed(self, tenant_id: str, emails: Sequence[str]) -> set[str]:
        """Which of `emails` are on the tenant's list: one BatchGetItem per 100 keys (DynamoDB's limit)."""
        found: set[str] = set()
        keys = [to_item({"tenantId": tenant_id, "email": e}) for e in dict.fromkeys(emails)]
        for start in range(0, len(keys), 100):
            batch = {"Keys": keys[start : start + 100], "ConsistentRead": True, "ProjectionExpression": "email"}
            request: dict[str, Any] = {self._table: batch}
            while request:
                response = await self._db.batch_get_item(RequestItems=request)
                found.update(item["email"]["S"] for item in response.get("Responses", {}).get(self._table, []))
                request = dict(response.get("UnprocessedKeys") or {})
        return found

    async def remove(self, tenant_id: str, email: str) -> bool:
        """Take the address off the list; False when it was not on it."""
        try:
            await self._db.delete_item(
                TableName=self._table,
                Key=to_item({"tenantId": tenant_id, "email": email}),
                ConditionExpression="attribute_exists(email)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def list_page(
        self, tenant_id: str, *, limit: int, start_key: Item | None
    ) -> tuple[list[Suppression], Item | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "tenantId = :t",
            "ExpressionAttributeValues": to_item({":t": tenant_id}),
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = await self._db.query(**kwargs)
        return [Suppression.from_values(from_item(i)) for i in response.get("Items", [])], response.get(
            "LastEvaluatedKey"
        )
