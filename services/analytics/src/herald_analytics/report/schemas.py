"""`GET /campaigns/{id}/report`: the states a report can be filtered by, its rows, its summary and its page."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# The CSV's columns, in the contract's order (shared/SPEC.md "Delivery report").
CSV_COLUMNS = ("email", "state", "messageId", "attempts", "reason", "sentAt", "updatedAt")


class LedgerState(StrEnum):
    """A recipient's state in the delivery ledger (docs/architecture.md); `pending` = not claimed yet."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


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
    on the last page."""

    campaignId: str
    summary: dict[str, int]
    items: list[ReportItem]
    nextCursor: str | None
