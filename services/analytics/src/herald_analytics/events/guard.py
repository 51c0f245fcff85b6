"""The reputation guard: a campaign whose bounce or complaint rate would hurt the sender's reputation is paused.

SES reviews an account whose bounce rate passes 5 % or complaint rate passes 0.1 %, and may stop its sending: a
campaign that is heading there is paused before it takes the whole account with it. Rates are of `sentCount`, and
only judged once the campaign has sent enough for a rate to mean something.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

# The counters whose growth can trip the guard: nothing else is worth a look.
GUARDED_COUNTERS = frozenset({"bouncedCount", "complainedCount"})


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


def worth_checking(deltas: Mapping[str, int]) -> bool:
    """Only a new bounce or complaint can push a rate over its limit."""
    return any(deltas.get(name, 0) > 0 for name in GUARDED_COUNTERS)
