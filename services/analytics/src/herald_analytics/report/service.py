"""The delivery report: tenant scoping, the summary from the campaign's counters, rows from the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from herald_analytics.errors import CampaignNotFound
from herald_analytics.recipients.service import decode_token, encode_token
from herald_analytics.report.schemas import CSV_COLUMNS, DeliveryReport, LedgerState, ReportItem
from herald_common.csv_export import CsvChunks

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection, Mapping

    from herald_analytics.ledger_pages import LedgerPage
    from herald_analytics.stats.watchers import CampaignSource

# ledger state → the campaign counter of rows that reached it (docs/architecture.md, `{prefix}-campaigns`)
FINAL_STATE_COUNTERS = {
    LedgerState.SENT: "sentCount",
    LedgerState.FAILED: "failedCount",
    LedgerState.SUPPRESSED: "suppressedCount",
    LedgerState.INVALID: "invalidCount",
    LedgerState.UNKNOWN: "unknownCount",
    LedgerState.CANCELLED: "cancelledCount",
}
SES_SEND_EVENTS_COUNTER = "sesSendEventCount"  # analytics: rows whose SES Send event was seen, each once


class ReportLedger(Protocol):
    async def page(
        self, tenant_id: str, campaign_id: str, states: Collection[LedgerState], limit: int, after: str | None
    ) -> LedgerPage:
        """Up to `limit` rows after the email `after`, the email to resume after (or None), and whether the read
        bound cut the page short (ledger_pages.py)."""

    def rows(
        self, tenant_id: str, campaign_id: str, states: Collection[LedgerState]
    ) -> AsyncIterator[list[dict[str, str]]]:
        """Every row, a bounded page at a time."""


def _count(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value) if isinstance(value, int | float) else 0


def summarize(item: Mapping[str, Any]) -> dict[str, int]:
    """The whole campaign's counts from its item (O(1), whatever the campaign's size)."""
    summary = {LedgerState.PENDING.value: max(_count(item, "recipientCount") - _count(item, "finalCount"), 0)}
    summary |= {state.value: _count(item, counter) for state, counter in FINAL_STATE_COUNTERS.items()}
    sent, send_events = summary[LedgerState.SENT.value], _count(item, SES_SEND_EVENTS_COUNTER)
    reconciled = min(sent, send_events)
    summary |= {
        "sesSendEvents": send_events,
        "reconciled": reconciled,
        "inDoubt": summary[LedgerState.UNKNOWN.value] + sent - reconciled,
    }
    return summary


def report_item(row: Mapping[str, str]) -> ReportItem:
    attempts = row.get("attempt", "0")
    return ReportItem(
        email=row["email"],
        state=LedgerState(row.get("state") or LedgerState.PENDING.value),
        messageId=row.get("messageId"),
        attempts=int(attempts) if attempts.isdigit() else 0,
        reason=row.get("reason"),
        sentAt=row.get("sentAt"),
        updatedAt=row.get("updatedAt"),
    )


class ReportService:
    def __init__(self, campaigns: CampaignSource, ledger: ReportLedger) -> None:
        self._campaigns = campaigns
        self._ledger = ledger

    async def _campaign(self, tenant_id: str, campaign_id: str) -> dict[str, Any]:
        item = await self._campaigns.get(tenant_id, campaign_id)
        if item is None:  # another tenant's campaign answers like a missing one
            raise CampaignNotFound(f"Campaign {campaign_id} does not exist.")
        return item

    async def page(
        self, tenant_id: str, campaign_id: str, states: Collection[LedgerState], limit: int, cursor: str | None
    ) -> DeliveryReport:
        """One page of recipients in `states` (all when empty), in address order, with the campaign's summary."""
        item = await self._campaign(tenant_id, campaign_id)
        after = decode_token(campaign_id, cursor) if cursor else None
        page = await self._ledger.page(tenant_id, campaign_id, states, limit, after)
        return DeliveryReport(
            campaignId=campaign_id,
            summary=summarize(item),
            items=[report_item(row) for row in page.items],
            nextCursor=encode_token(campaign_id, page.resume) if page.resume else None,
            scanLimited=page.scan_limited,
        )

    async def csv(self, tenant_id: str, campaign_id: str, states: Collection[LedgerState]) -> AsyncIterator[bytes]:
        """The whole report as CSV chunks; 404 before the first byte for an unknown campaign."""
        await self._campaign(tenant_id, campaign_id)
        return self._csv(tenant_id, campaign_id, states)

    async def _csv(self, tenant_id: str, campaign_id: str, states: Collection[LedgerState]) -> AsyncIterator[bytes]:
        chunks = CsvChunks(CSV_COLUMNS)
        async for rows in self._ledger.rows(tenant_id, campaign_id, states):
            for row in rows:
                if chunk := chunks.add(report_item(row).cells()):
                    yield chunk
        yield chunks.flush()
