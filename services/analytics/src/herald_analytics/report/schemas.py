"""`GET /campaigns/{id}/report`: the states a report can be filtered by, its rows, its summary and its page."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# The ledger's states come from the kit, their one owner (re-exported for the report's modules).
from herald_common.delivery_states import LedgerState

__all__ = ["CSV_COLUMNS", "DeliveryReport", "LedgerState", "ReportItem"]

# The CSV's columns, in the contract's order (shared/SPEC.md "Delivery report").
CSV_COLUMNS = ("email", "state", "messageId", "attempts", "reason", "sentAt", "updatedAt")


class ReportItem(BaseModel):
    """One recipient: its ledger state, the SES message id, how many send attempts it took, and why."""

    model_config = ConfigDict(frozen=True)

    email: str
    state: LedgerState
    messageId: str | None = None
    attempts: int = 0
    reason: str | None = None
    sentAt: str | None = None
    updatedAt: str | None = None

    def cells(self) -> tuple[object, ...]:
        """The row's CSV cells, in `CSV_COLUMNS` order."""
        return (self.email, self.state.value, self.messageId, self.attempts, self.reason, self.sentAt, self.updatedAt)


class DeliveryReport(BaseModel):
    """A page of the report. `summary` covers the whole campaign whatever the filter: a count per ledger state
    (`pending`: not final yet, queued or in flight), `sesSendEvents` (recipients whose SES Send event analytics saw),
    `reconciled` (recipients Herald counts as sent whose Send event was seen) and `inDoubt` (recipients whose
    acceptance by SES is not confirmed: `unknown`, and `sent` ones without a Send event yet). `nextCursor` is null
    on the last page. A page holds fewer than `limit` rows only on the last page, or when a sparse `state` filter
    met too few rows within the rows one page may read (20,000): then `scanLimited` is true and `nextCursor` goes
    on from there."""

    campaignId: str
    summary: dict[str, int]
    items: list[ReportItem]
    nextCursor: str | None
    scanLimited: bool = False
