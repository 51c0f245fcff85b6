"""The sending policy item: one per tenant in the throttle table (`bucketKey` = `policy#{tenant}`), beside the
buckets it configures, so the processors read it from the table they already use."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def policy_key(tenant_id: str) -> str:
    return f"policy#{tenant_id}"


class DynamoSendingPolicyStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def put(self, tenant_id: str, policy_json: str, updated_at: str) -> None:
        await self._db.put_item(
            TableName=self._table,
            Item={
                "bucketKey": {"S": policy_key(tenant_id)},
                "policy": {"S": policy_json},
                "updatedAt": {"S": updated_at},
            },
        )

    async def get(self, tenant_id: str) -> str | None:
        item = (
            await self._db.get_item(
                TableName=self._table, Key={"bucketKey": {"S": policy_key(tenant_id)}}, ConsistentRead=True
            )
        ).get("Item")
        return None if item is None else item["policy"]["S"]
