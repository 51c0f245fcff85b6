"""The reputation state item analytics' guard writes in the throttle table (`reputation-state#{tenant}`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald_campaign.reputation.schemas import ReputationState

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


class DynamoReputationReader:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def get(self, tenant_id: str) -> ReputationState:
        """The tenant's state (`ok` when the guard has nothing against it)."""
        item = (
            await self._db.get_item(
                TableName=self._table, Key={"bucketKey": {"S": f"reputation-state#{tenant_id}"}}, ConsistentRead=True
            )
        ).get("Item")
        if item is None or item.get("level", {}).get("S") not in ("warn", "pause"):
            return ReputationState(level="ok")
        text = {name: item[name]["S"] for name in ("scope", "window", "reason", "at") if "S" in item.get(name, {})}
        return ReputationState(level=item["level"]["S"], **text)
