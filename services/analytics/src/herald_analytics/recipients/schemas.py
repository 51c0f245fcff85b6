"""`GET /campaigns/{id}/recipients`: the states a list can be filtered by, and the page it answers."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RecipientState(StrEnum):
    """A ledger state (the processor's), a delivery outcome or an engagement flag (analytics')."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    SOFT_BOUNCED = "softBounced"
    REJECTED = "rejected"
    COMPLAINED = "complained"
    OPENED = "opened"
    MACHINE_OPENED = "machineOpened"
    CLICKED = "clicked"


class RecipientEntry(BaseModel):
    """One recipient's ledger entry as the UI shows it."""

    model_config = ConfigDict(frozen=True)

    email: str
    state: str
    delivery: str | None = None
    reason: str | None = None
    messageId: str | None = None
    batchId: str | None = None
    sentAt: str | None = None
    updatedAt: str | None = None
    complainedAt: str | None = None
    openedAt: str | None = None
    machineOpenedAt: str | None = None
    clickedAt: str | None = None


class RecipientPage(BaseModel):
    """A page of recipients; `nextToken` is null on the last page. A page holds fewer than `limit` recipients only
    on the last page, or when a sparse `state` met too few rows within what one page may read: then `scanLimited`
    is true and `nextToken` goes on from there."""

    campaignId: str
    state: RecipientState | None
    recipients: list[RecipientEntry]
    nextToken: str | None
    scanLimited: bool = False
