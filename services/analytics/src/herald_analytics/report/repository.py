"""Reading a campaign's ledger partition for the report: one Query per page, only the report's attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald_analytics.ledger_pages import LedgerPage, query_page
from herald_analytics.report.schemas import LedgerState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection

    from types_aiobotocore_dynamodb import DynamoDBClient

_PROJECTION = "email, #s, messageId, attempt, reason, sentAt, updatedAt"


def _state_filter(states: Collection[LedgerState]) -> tuple[str, dict[str, Any]]:
    """A FilterExpression on `#s` (state) selecting `states`, and its values."""
    values = {f":s{i}": {"S": state.value} for i, state in enumerate(sorted(states))}
    expression = f"#s IN ({', '.join(values)})"
    if LedgerState.PENDING in states:  # a row never claimed has no state at all
        expression = f"attribute_not_exists(#s) OR {expression}"
    return expression, values


def plain_row(item: dict[str, Any]) -> dict[str, str]:
    """A ledger item's string and number attributes as text (the report reads nothing else)."""
    row: dict[str, str] = {}
    for name, value in item.items():
        raw = value.get("S", value.get("N"))
        if isinstance(raw, str):
            row[name] = raw
    return row


class LedgerReport:
    """`{prefix}-ledger`, read-only: pk `campaignKey` (`tenant#campaign`), sk `email`."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def _query(self, tenant_id: str, campaign_id: str, states: Collection[LedgerState]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "campaignKey = :k",
            "ProjectionExpression": _PROJECTION,
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {":k": {"S": f"{tenant_id}#{campaign_id}"}},
        }
        if states:
            expression, values = _state_filter(states)
            request["FilterExpression"] = expression
            request["ExpressionAttributeValues"] |= values
        return request

    async def page(
        self, tenant_id: str, campaign_id: str, states: Collection[LedgerState], limit: int, after: str | None
    ) -> LedgerPage:
        """Up to `limit` rows in address order after the email `after` (ledger_pages.py)."""
        request = self._query(tenant_id, campaign_id, states)
        page = await query_page(self._db, request, f"{tenant_id}#{campaign_id}", limit, after, filtered=bool(states))
        return LedgerPage([plain_row(item) for item in page.items], page.resume, page.scan_limited)

    async def rows(
        self, tenant_id: str, campaign_id: str, states: Collection[LedgerState]
    ) -> AsyncIterator[list[dict[str, str]]]:
        """Every row, one DynamoDB page (≤ 1 MB read) at a time: what is held at once never grows with the campaign."""
        request = self._query(tenant_id, campaign_id, states)
        while True:
            response = await self._db.query(**request)
            yield [plain_row(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last
