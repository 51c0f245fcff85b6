"""One page of a campaign's ledger partition (pk `campaignKey`, sk `email`), optionally filtered: the walk the
delivery report and the recipient list share.

A filter is applied after DynamoDB reads: a Query's `Limit` counts rows read, not rows kept. A filtered page reads on
past the rows it skips, `FILTERED_READ_ROWS` at a time (and at most 1 MB, DynamoDB's cap per call), until it is full
or the partition ends; so a page holds fewer than `limit` rows only on the last page, or when
`MAX_QUERY_CALLS_PER_PAGE` calls met too few matching rows. That bound keeps an answer from waiting on a whole
million-row campaign; the page then says so (`scan_limited`) and its cursor goes on from the last row read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

FILTERED_READ_ROWS = 1000
MAX_QUERY_CALLS_PER_PAGE = 20  # with a filter: up to 20,000 rows (or 20 MB) read for one page


@dataclass(frozen=True)
class LedgerPage:
    items: list[dict[str, Any]]  # DynamoDB items, in address order
    resume: str | None  # the email the next page starts after; None on the last page
    scan_limited: bool = False  # the read bound was reached before the page filled (more may match further on)


async def query_page(
    dynamodb: DynamoDBClient,
    request: dict[str, Any],
    campaign_key: str,
    limit: int,
    after: str | None,
    *,
    filtered: bool,
) -> LedgerPage:
    """Up to `limit` items of the Query `request` (its table, key condition, filter, projection) after the email
    `after`."""
    rows: list[dict[str, Any]] = []
    start = after
    for _ in range(MAX_QUERY_CALLS_PER_PAGE):
        call = dict(request)
        if start is not None:
            call["ExclusiveStartKey"] = {"campaignKey": {"S": campaign_key}, "email": {"S": start}}
        wanted = limit - len(rows)
        # Unfiltered, every row read is kept: asking for what is missing fills the page exactly.
        response = await dynamodb.query(**call, Limit=max(wanted, FILTERED_READ_ROWS) if filtered else wanted)
        items = [dict(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if len(items) >= wanted:
            # Full: the next page starts after the last row kept (rows read past it are read again then).
            rows += items[:wanted]
            more = len(items) > wanted or last is not None
            return LedgerPage(rows, str(rows[-1]["email"]["S"]) if more else None)
        rows += items
        if not last:
            return LedgerPage(rows, None)
        start = str(last["email"]["S"])
    return LedgerPage(rows, start, scan_limited=True)
