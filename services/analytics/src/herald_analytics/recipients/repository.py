"""Reading a campaign's ledger rows by state: one partition query, filtered, paged by the ledger's sort key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald_analytics.ledger_pages import query_page
from herald_analytics.recipients.schemas import RecipientState

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

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
    ) -> tuple[list[dict[str, Any]], str | None, bool]:
        """Up to `limit` rows in sort-key order after the email `after`, the email to resume after (or None), and
        whether the read bound cut the page short (ledger_pages.py)."""
        campaign_key = f"{tenant_id}#{campaign_id}"
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "campaignKey = :k",
            "ExpressionAttributeValues": {":k": {"S": campaign_key}},
        }
        if state is not None:
            expression, names, filter_values = state_filter(state)
            request["ExpressionAttributeValues"] |= filter_values
            request |= {"FilterExpression": expression, "ExpressionAttributeNames": names}
        page = await query_page(self._db, request, campaign_key, limit, after, filtered=state is not None)
        items = [{k: _plain(v) for k, v in item.items()} for item in page.items]
        return items, page.resume, page.scan_limited


def _plain(value: Any) -> Any:
    (kind, raw), *_ = value.items()
    return raw if kind in ("S", "N", "BOOL") else None
