"""The reputation guard's verdict and the machine-open rule (pure functions)."""

from __future__ import annotations

import pytest

from herald_analytics.events.guard import ReputationGuard, ReputationPolicy, pause_reason
from herald_analytics.events.opens import is_machine_open, is_prefetching_agent
from herald_analytics.events.schemas import CampaignRef

POLICY = ReputationPolicy(min_sends=100, max_bounce_rate=0.05, max_complaint_rate=0.001)


@pytest.mark.parametrize(
    ("counts", "paused"),
    [
        ({"sentCount": 99, "bouncedCount": 50}, False),  # too few sends for a rate to mean anything
        ({"sentCount": 100, "bouncedCount": 5}, False),  # exactly 5 %: not over
        ({"sentCount": 100, "bouncedCount": 6}, True),
        ({"sentCount": 1000, "complainedCount": 1}, False),  # exactly 0.1 %
        ({"sentCount": 1000, "complainedCount": 2}, True),
        ({}, False),
    ],
)
def test_pause_reason(counts, paused):
    assert (pause_reason(counts, POLICY) is not None) is paused


def test_the_reason_says_which_rate_and_by_how_much():
    reason = pause_reason({"sentCount": 200, "bouncedCount": 20}, POLICY)
    assert reason == "Paused automatically: bounce rate 10.00% (20 of 200 sent) is over the 5.00% limit."


class _Pauser:
    def __init__(self, succeeds: bool = True) -> None:
        self.succeeds = succeeds
        self.calls: list[tuple[CampaignRef, str]] = []

    async def pause(self, ref: CampaignRef, reason: str, now_iso: str) -> bool:
        assert now_iso.endswith("Z")
        self.calls.append((ref, reason))
        return self.succeeds


REF = CampaignRef("acme", "camp_0123456789abcdefghij")


async def test_the_guard_pauses_a_sending_campaign_over_a_limit_and_says_why():
    pauser = _Pauser()
    item = {
        "status": "sending", "sentCount": 100, "bouncedCount": 6, "deliveredCount": 94, "name": "Spring",
        "statusVersion": 1,
    }  # fmt: skip
    judged = await ReputationGuard(pauser, POLICY).inspect(REF, item)
    reason = "Paused automatically: bounce rate 6.00% (6 of 100 sent) is over the 5.00% limit."
    assert pauser.calls == [(REF, reason)]
    assert (judged["status"], judged["statusReason"], judged["name"]) == ("paused", reason, "Spring")
    # The number read was the move before the pause: the statistics must not report the pause under it.
    assert "statusVersion" not in judged


@pytest.mark.parametrize(
    "item",
    [
        {"status": "sending", "sentCount": 100, "bouncedCount": 5},  # at the limit
        {"status": "sending", "sentCount": 99, "bouncedCount": 50},  # below the volume
        {"status": "paused", "sentCount": 100, "bouncedCount": 50},  # a user's pause (or ours) stands
        {"status": "sent", "sentCount": 100, "complainedCount": 50},  # finished campaigns are left alone
    ],
)
async def test_the_guard_leaves_alone_what_it_must_not_pause(item):
    pauser = _Pauser()
    assert await ReputationGuard(pauser, POLICY).inspect(REF, item) == item
    assert pauser.calls == []


async def test_a_pause_that_lost_a_race_leaves_the_item_as_read():
    item = {"status": "sending", "sentCount": 1000, "complainedCount": 2}
    assert await ReputationGuard(_Pauser(succeeds=False), POLICY).inspect(REF, item) == item


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Mozilla/5.0", True),  # Apple Mail Privacy Protection
        ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", True),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", True),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", False),
        (None, False),
    ],
)
def test_prefetching_agents(agent, expected):
    assert is_prefetching_agent(agent) is expected


DELIVERED = "2024-01-15T10:30:02.000Z"
PROXY = "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"
READER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"


@pytest.mark.parametrize(
    ("agent", "opened_at", "machine"),
    [
        (PROXY, "2024-01-15T10:30:04.000Z", True),  # a proxy, 2 s after delivery
        (PROXY, "2024-01-15T11:30:00.000Z", False),  # a person reading through the proxy an hour later
        (READER, "2024-01-15T10:30:04.000Z", False),  # a fast reader is still a reader
        (READER, "2024-01-15T10:30:01.000Z", True),  # before delivery: nobody read it
        (PROXY, "garbage", False),
    ],
)
def test_machine_opens(agent, opened_at, machine):
    assert is_machine_open(agent, opened_at, DELIVERED, window_seconds=10) is machine


def test_without_a_delivery_time_an_open_is_human():
    assert not is_machine_open(PROXY, "2024-01-15T10:30:04.000Z", None, window_seconds=10)
