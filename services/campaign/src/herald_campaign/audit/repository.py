"""Every DynamoDB expression reading `{prefix}-audit` (pk tenantId, sk recordId). Nothing here writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald_campaign.dynamo import from_item, to_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_campaign.dynamo import Item


class DynamoAuditReader:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        start_key: Item | None,
        action: str | None = None,
        target: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> tuple[list[dict[str, Any]], Item | None]:
        """Newest first. `since`/`until` bound the time (the sort key starts with it); action and target filter."""
        condition = "tenantId = :t"
        values: dict[str, Any] = {":t": tenant_id}
        if since and until:
            condition += " AND recordId BETWEEN :since AND :until"
            values |= {":since": since, ":until": until + "~"}
        elif since:
            condition += " AND recordId >= :since"
            values[":since"] = since
        elif until:
            condition += " AND recordId <= :until"
            values[":until"] = until + "~"  # '~' sorts after '#…': a record of exactly `until` is in
        filters = []
        names: dict[str, str] = {}
        if action:
            filters.append("#action = :action")
            names["#action"] = "action"
            values[":action"] = action
        if target:
            filters.append("#target = :target")
            names["#target"] = "target"
            values[":target"] = target
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
            kwargs["ExpressionAttributeNames"] = names
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = await self._db.query(**kwargs)
        return [from_item(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")
