"""Machine clicks: a link followed by a mail security scanner, not by a person; and unsubscribe links.

Mail gateways (Microsoft Safe Links, Mimecast, Proofpoint, Barracuda, …) follow the links of a message to check
them, usually as it arrives and all of them at once. Counting those as clicks would make the click rate say
nothing, so a click is a machine's (`machineClickedAt`, `machineClickedCount`, never `clickedAt`) when
- it came within `HERALD_ANALYTICS_MACHINE_CLICK_WINDOW_SECONDS` (10) of delivery (or before it), or
- its user agent is a known scanner or an HTTP library, or
- another link of the same message was clicked within `HERALD_ANALYTICS_CLICK_BURST_SECONDS` (2) of it: every link
  at once. The first of those may have been counted as a person's already; it is moved to the machine count then.
A later click (past the burst) of a recipient whose message a scanner followed counts as a person's.
A click on Herald's own unsubscribe link (`{public_url}/u/…`) counts as neither: leaving is not engagement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from herald_analytics.events.transitions import Transition

if TYPE_CHECKING:
    from collections.abc import Mapping

CLICKED = ("clickedAt", "clickedCount")
MACHINE_CLICKED = ("machineClickedAt", "machineClickedCount")
FIRST_CLICK_AT, FIRST_CLICK_LINK = "firstClickAt", "firstClickLink"
# Substrings of scanners' and libraries' user agents (case-insensitive).
SCANNER_AGENT_MARKERS = (
    "barracuda", "mimecast", "proofpoint", "urldefense", "safelinks", "trendmicro", "forcepoint", "fortiguard",
    "symantec", "messagelabs", "ironport", "sophos", "zscaler", "bot", "spider", "crawler", "scanner",
    "python-requests", "python-urllib", "go-http-client", "curl/", "wget", "okhttp", "java/", "headlesschrome",
    "phantomjs",
)  # fmt: skip


@dataclass(frozen=True)
class ClickRules:
    window_seconds: float = 10.0
    burst_seconds: float = 2.0
    unsubscribe_prefix: str = ""  # `{public_url}/u/`


def is_scanner_agent(user_agent: str | None) -> bool:
    agent = (user_agent or "").strip().lower()
    return not agent or any(marker in agent for marker in SCANNER_AGENT_MARKERS)


def _seconds(later: str | None, earlier: str | None) -> float | None:
    try:
        a, b = datetime.fromisoformat(later or ""), datetime.fromisoformat(earlier or "")
    except ValueError:
        return None
    if a.tzinfo is None or b.tzinfo is None:
        return None
    return (a - b).total_seconds()


def plan_click(
    row: Mapping[str, str], link: str, user_agent: str | None, at: str, delivered_at: str | None, rules: ClickRules
) -> Transition | None:
    """The change a Click makes to a ledger row (its string attributes), or None (module docstring)."""
    if rules.unsubscribe_prefix and link.startswith(rules.unsubscribe_prefix):
        return None
    first_at, first_link = row.get(FIRST_CLICK_AT), row.get(FIRST_CLICK_LINK)
    since_delivery = _seconds(at, delivered_at)
    machine = is_scanner_agent(user_agent) or (since_delivery is not None and since_delivery <= rules.window_seconds)
    if first_at is not None:
        if link == first_link and at == first_at:
            return None  # the first click again (SNS delivered it twice)
        apart = _seconds(at, first_at)
        if link != first_link and apart is not None and abs(apart) <= rules.burst_seconds:
            if row.get(CLICKED[0]) and not row.get(MACHINE_CLICKED[0]):
                # Every link at once: the first click, counted as a person's, was the scanner's.
                return Transition(
                    MACHINE_CLICKED[0], first_at, {CLICKED[1]: -1, MACHINE_CLICKED[1]: 1}, remove=(CLICKED[0],)
                )
            return None
    attribute, counter = MACHINE_CLICKED if machine else CLICKED
    if row.get(attribute):
        return None
    also = {} if first_at is not None else {FIRST_CLICK_AT: at, FIRST_CLICK_LINK: link}
    return Transition(attribute, at, {counter: 1}, also=also)
