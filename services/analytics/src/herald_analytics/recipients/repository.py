"""Reading a campaign's ledger rows by state: one partition query, filtered, paged by the ledger's sort key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald_analytics.recipients.schemas import RecipientState

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

# DynamoDB reads at most 1 MB per Query call; a sparse filter may need several calls to fill a page. Past this
# many the page is answered short, with a token to go on (an answer never waits on a whole campaign's scan).
MAX_QUERY_CALLS_PER_PAGE = 10

_STATE_VALUES = {
    RecipientState.PENDING,
    RecipientState.SENDING,
    RecipientState.SENT,
    RecipientState.FAILED,
    RecipientState.SUPPRESSED,
    RecipientState.INVALID,
    RecipientState.UNKNOWN,
    RecipientState.CANCELLED,
}
_DELIVERY_VALUES = {
    RecipientState.DELIVERED,
    RecipientState.BOUNCED,
    RecipientState.SOFT_BOUNCED,
    RecipientState.REJECTED,
}
_FLAGS = {
    RecipientState.COMPLAINED: "complainedAt",
    RecipientState.OPENED: "openedAt",
    RecipientState.MACHINE_OPENED: "machineOpenedAt",
    RecipientState.CLICKED: "clickedAt",
}


def state_filter(state: RecipientState) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The FilterExpression, names and values that select `state`."""
    if state is RecipientState.PENDING:
        return "attribute_not_exists(#a) OR #a = :v", {"#a": "state"}, {":v": {"S": state.value}}
    if state in _STATE_VALUES:
        return "#a = :v", {"#a": "state"}, {":v": {"S": state.value}}
    if state in _DELIVERY_VALUES:
        return "#a = :v", {"#a": "delivery"}, {":v": {"S": state.value}}
    return "attribute_exists(#a)", {"#a": _FLAGS[state]}, {}


class LedgerReader:
    """`{prefix}-ledger`, read-only: pk `campaignKey` (`tenant#campaign`), sk `email`."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def page(
        self, tenant_id: str, campaign_id: str, state: RecipientState | None, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` rows in sort-key order after the email `after`, and the email to resume after (or None)."""
        campaign_key = f"{tenant_id}#{campaign_id}"
        items: list[dict[str, Any]] = []
        start = after
        names: dict[str, str] = {}
        values: dict[str, Any] = {":k": {"S": campaign_key}}
        extra: dict[str, Any] = {}
        if state is not None:
            expression, names, filter_values = state_filter(state)
            values |= filter_values
            extra = {"FilterExpression": expression, "ExpressionAttributeNames": names}
        for _ in range(MAX_QUERY_CALLS_PER_PAGE):
            if start is not None:
                extra["ExclusiveStartKey"] = {"campaignKey": {"S": campaign_key}, "email": {"S": start}}
            # Limit counts rows read, not rows kept: asking for what is missing never overshoots the page, so
            # the last key read is exactly where the next page starts.
            response = await self._db.query(
                TableName=self._table,
                KeyConditionExpression="campaignKey = :k",
                ExpressionAttributeValues=values,
                Limit=limit - len(items),
                **extra,
            )
            items += [{k: _plain(v) for k, v in item.items()} for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return items, None
            start = str(last["email"]["S"])
            if len(items) >= limit:
                break
        return items, start


def _plain(value: Any) -> Any:
    (kind, raw), *_ = value.items()
    return raw if kind in ("S", "N", "BOOL") else None
