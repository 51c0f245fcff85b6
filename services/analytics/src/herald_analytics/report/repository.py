"""Reading a campaign's ledger partition for the report: one Query per page, only the report's attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald_analytics.report.schemas import LedgerState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection

    from types_aiobotocore_dynamodb import DynamoDBClient

# DynamoDB reads at most 1 MB per Query call; a sparse filter may need several calls to fill a page. Past this
# many a page is answered short, with a cursor to go on (an answer never waits on a whole campaign's scan).
MAX_QUERY_CALLS_PER_PAGE = 10
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
    ) -> tuple[list[dict[str, str]], str | None]:
        """Up to `limit` rows in address order after the email `after`, and the email to resume after (or None)."""
        request = self._query(tenant_id, campaign_id, states)
        partition = {"S": f"{tenant_id}#{campaign_id}"}
        rows: list[dict[str, str]] = []
        start = after
        for _ in range(MAX_QUERY_CALLS_PER_PAGE):
            if start is not None:
                request["ExclusiveStartKey"] = {"campaignKey": partition, "email": {"S": start}}
            # Limit counts rows read, not rows kept: asking for what is missing never overshoots the page, so the
            # last key read is exactly where the next page starts.
            response = await self._db.query(**request, Limit=limit - len(rows))
            rows += [plain_row(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return rows, None
            start = str(last["email"]["S"])
            if len(rows) >= limit:
                break
        return rows, start

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
