"""The statistics object of `GET /campaigns/{id}/stats` and the stream, and how it is computed from the item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from collections.abc import Mapping

RATE_DECIMALS = 4


class CampaignStats(BaseModel):
    """A campaign's live statistics. Delivery, bounce and complaint rates are fractions of `sent`; open and click
    rates are fractions of `delivered` (0 when the base is 0), 4 decimals. `opened` counts recipients with a human
    open; `machineOpened` those whose message a prefetching proxy fetched (left out of `openRate`); `clicked` counts
    recipients with a person's click, `machineClicked` those whose links a scanner followed (not in `clickRate`)."""

    model_config = ConfigDict(frozen=True)

    campaignId: str
    status: str
    recipients: int
    queued: int
    sent: int
    delivered: int
    bounced: int
    complained: int
    rejected: int
    failed: int
    suppressed: int
    invalid: int
    unknown: int
    opened: int
    clicked: int
    deliveryRate: float
    bounceRate: float
    complaintRate: float
    updatedAt: str | None
    # Additive to SPEC.md's object.
    softBounced: int = 0
    machineOpened: int = 0
    machineClicked: int = 0
    openRate: float = 0.0
    clickRate: float = 0.0
    statusReason: str | None = None


def _count(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value) if isinstance(value, int | float) else 0


def _rate(count: int, sent: int) -> float:
    return round(count / sent, RATE_DECIMALS) if sent > 0 else 0.0


def compute_stats(item: Mapping[str, Any]) -> CampaignStats:
    """Statistics from a campaign item (plain values), per docs/architecture.md; missing counters are 0."""
    recipient_count = _count(item, "recipientCount")
    intake_invalid = _count(item, "intakeInvalidCount")
    sent = _count(item, "sentCount")
    delivered = _count(item, "deliveredCount")
    bounced = _count(item, "bouncedCount")
    complained = _count(item, "complainedCount")
    opened, clicked = _count(item, "openedCount"), _count(item, "clickedCount")
    reason = item.get("statusReason")
    updated_at = item.get("updatedAt")
    return CampaignStats(
        campaignId=str(item.get("campaignId", "")),
        status=str(item.get("status", "draft")),
        recipients=recipient_count + intake_invalid,
        queued=max(recipient_count - _count(item, "finalCount"), 0),
        sent=sent,
        delivered=delivered,
        bounced=bounced,
        complained=complained,
        rejected=_count(item, "rejectedCount"),
        failed=_count(item, "failedCount"),
        suppressed=_count(item, "suppressedCount"),
        invalid=intake_invalid + _count(item, "invalidCount"),
        unknown=_count(item, "unknownCount"),
        opened=opened,
        clicked=clicked,
        deliveryRate=_rate(delivered, sent),
        bounceRate=_rate(bounced, sent),
        complaintRate=_rate(complained, sent),
        updatedAt=str(updated_at) if updated_at is not None else None,
        softBounced=_count(item, "softBouncedCount"),
        machineOpened=_count(item, "machineOpenedCount"),
        machineClicked=_count(item, "machineClickedCount"),
        openRate=_rate(opened, delivered),
        clickRate=_rate(clicked, delivered),
        statusReason=str(reason) if reason else None,
    )
