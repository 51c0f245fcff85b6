"""Reading campaign items (the statistics' only source)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as a plain Python value (numbers become int or float)."""
    (kind, raw), *_ = value.items()
    if kind == "N":
        number = Decimal(raw)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: plain(v) for k, v in raw.items()}
    if kind == "L":
        return [plain(v) for v in raw]
    if kind == "NULL":
        return None
    if kind in ("SS", "NS", "BS"):
        return sorted(raw)
    return raw  # S, BOOL, B


class CampaignReader:
    """`{prefix}-campaigns`, read-only: pk `tenantId`, sk `campaignId`."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def get(self, tenant_id: str, campaign_id: str) -> dict[str, Any] | None:
        """The campaign item as plain values, or None. Strongly consistent: a stream must not step back."""
        response = await self._db.get_item(
            TableName=self._table,
            Key={"tenantId": {"S": tenant_id}, "campaignId": {"S": campaign_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return {name: plain(dict(value)) for name, value in item.items()} if item else None
