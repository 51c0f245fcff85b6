"""The reputation guard: a campaign whose bounce or complaint rate would hurt the sender's reputation is paused.

SES reviews an account whose bounce rate passes 5 % or complaint rate passes 0.1 %, and may stop its sending: a
campaign that is heading there is paused before it takes the whole account with it. Rates are of `sentCount`, and
only judged once the campaign has sent enough for a rate to mean something.

The guard looks at a campaign every time its counters change (coalesced with the campaign-update announcement,
updates.py), not only on a new bounce: bounces counted while the campaign was below the minimum volume pause it
as soon as the processor's sends reach that volume and the next count comes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from herald_common.delivery_states import CampaignStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from herald_analytics.events.schemas import CampaignRef

log = structlog.get_logger("herald.analytics")


@dataclass(frozen=True)
class ReputationPolicy:
    min_sends: int = 1000
    max_bounce_rate: float = 0.05
    max_complaint_rate: float = 0.001


def pause_reason(counts: Mapping[str, int], policy: ReputationPolicy) -> str | None:
    """Why the campaign must be paused, in words, or None; a pure function of its counters."""
    sent = counts.get("sentCount", 0)
    if sent <= 0 or sent < policy.min_sends:
        return None
    bounced, complained = counts.get("bouncedCount", 0), counts.get("complainedCount", 0)
    if bounced / sent > policy.max_bounce_rate:
        return (
            f"Paused automatically: bounce rate {bounced / sent:.2%} ({bounced} of {sent} sent) is over the "
            f"{policy.max_bounce_rate:.2%} limit."
        )
    if complained / sent > policy.max_complaint_rate:
        return (
            f"Paused automatically: complaint rate {complained / sent:.2%} ({complained} of {sent} sent) is over "
            f"the {policy.max_complaint_rate:.2%} limit."
        )
    return None


class CampaignPauser(Protocol):
    async def pause(self, ref: CampaignRef, reason: str, now_iso: str) -> bool:
        """`sending` → `paused` with the reason; True when this call did it."""


class ReputationGuard:
    """Judges a campaign item (plain values, as the campaign-update announcement reads it) and pauses it."""

    def __init__(self, campaigns: CampaignPauser, policy: ReputationPolicy) -> None:
        self._campaigns = campaigns
        self._policy = policy

    async def inspect(self, ref: CampaignRef, item: dict[str, Any]) -> dict[str, Any]:
        """The item as it stands after the verdict (paused, with the reason, when the guard paused it)."""
        if item.get("status") != CampaignStatus.SENDING:
            return item
        counts = {k: int(v) for k, v in item.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        reason = pause_reason(counts, self._policy)
        if reason is None:
            return item
        now_iso = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if not await self._campaigns.pause(ref, reason, now_iso):
            return item  # paused, resumed or finished meanwhile: the next look sees it as it is
        log.warning("analytics.campaign_auto_paused", tenantId=ref.tenant_id, campaignId=ref.campaign_id, reason=reason)
        # The pause announced itself with its own `statusVersion` (repository.py); the number read with the item is
        # the move before it, so it is left out rather than reported with this status.
        paused = item | {"status": CampaignStatus.PAUSED.value, "statusReason": reason, "updatedAt": now_iso}
        paused.pop("statusVersion", None)
        return paused
