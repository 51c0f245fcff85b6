"""Machine opens: a pixel fetched by a mail provider's proxy or a privacy feature, not by a person.

Apple Mail Privacy Protection, Gmail's image proxy and Yahoo's mail proxy download every image of a message when it
arrives, whether anyone reads it or not. Counting those as opens would make the open rate say nothing, so an open is
judged a machine's when
- it happened before the message was delivered (nobody reads a message that has not arrived), or
- it came from a known prefetching user agent within a few seconds of delivery.
A prefetcher's later opens (a person reading through the proxy) count as human opens.
"""

from __future__ import annotations

from datetime import datetime

# Substrings of the user agents that fetch on arrival (case-insensitive).
PREFETCH_AGENT_MARKERS = (
    "googleimageproxy",  # Gmail: "Mozilla/5.0 (…) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    "yahoomailproxy",  # Yahoo: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
    "ymailproxy",
    "outlook-ios-imageproxy",
)
# Apple Mail Privacy Protection presents itself as exactly this, with nothing after it.
APPLE_PRIVACY_AGENTS = frozenset({"mozilla/5.0"})


def is_prefetching_agent(user_agent: str | None) -> bool:
    """A user agent known to fetch images when a message arrives rather than when it is read."""
    if not user_agent:
        return False
    agent = user_agent.strip().lower()
    return agent in APPLE_PRIVACY_AGENTS or any(marker in agent for marker in PREFETCH_AGENT_MARKERS)


def _parse(timestamp: str | None) -> datetime | None:
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp)
    except ValueError:
        return None


def is_machine_open(user_agent: str | None, opened_at: str, delivered_at: str | None, window_seconds: float) -> bool:
    """Whether an open at `opened_at` of a message delivered at `delivered_at` (or sent, when no Delivery is known
    yet) was a machine's; a pure function of ISO-8601 timestamps."""
    opened, delivered = _parse(opened_at), _parse(delivered_at)
    if opened is None or delivered is None or opened.tzinfo is None or delivered.tzinfo is None:
        return False  # nothing to compare: the benefit of the doubt goes to the reader
    elapsed = (opened - delivered).total_seconds()
    if elapsed < 0:
        return True
    return elapsed <= window_seconds and is_prefetching_agent(user_agent)
