"""Machine clicks (events/clicks.py): the rule as a pure function, then through the consumer against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from herald_analytics.events.clicks import ClickRules, is_scanner_agent, plan_click

DELIVERED = "2024-01-15T10:30:02+00:00"
LATER = "2024-01-15T11:01:00+00:00"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0"
RULES = ClickRules(window_seconds=10, burst_seconds=2, unsubscribe_prefix="https://herald.example/u/")


@pytest.mark.parametrize(
    "agent",
    ["", "python-requests/2.31", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "Mimecast Safe Links", "curl/8.0"],
)
def test_scanners_and_libraries_are_machines(agent: str) -> None:
    assert is_scanner_agent(agent)


def test_a_browser_is_not_a_scanner() -> None:
    assert not is_scanner_agent(BROWSER)


def _apply(row: dict[str, str], link: str, at: str, agent: str = BROWSER) -> tuple[dict[str, str], dict[str, int]]:
    transition = plan_click(row, link, agent, at, DELIVERED, RULES)
    if transition is None:
        return row, {}
    after = {k: v for k, v in row.items() if k not in transition.remove}
    return after | {transition.attribute: transition.value, **transition.also}, transition.deltas


def test_a_person_clicking_later_counts_once() -> None:
    row, deltas = _apply({}, "https://shop.example/a", LATER)
    assert deltas == {"clickedCount": 1}
    again, more = _apply(row, "https://shop.example/b", "2024-01-15T11:05:00+00:00")  # another link, minutes later
    assert (more, again["clickedAt"]) == ({}, LATER)


def test_a_click_right_after_delivery_is_a_machine() -> None:
    row, deltas = _apply({}, "https://shop.example/a", "2024-01-15T10:30:05+00:00")
    assert deltas == {"machineClickedCount": 1}
    assert "clickedAt" not in row
    # The person reading it later is a person.
    _, later = _apply(row, "https://shop.example/a", LATER)
    assert later == {"clickedCount": 1}


def test_a_scanner_agent_is_a_machine_whenever_it_clicks() -> None:
    _, deltas = _apply({}, "https://shop.example/a", LATER, agent="Mozilla/5.0 (compatible; proofpoint)")
    assert deltas == {"machineClickedCount": 1}


def test_every_link_at_once_moves_the_first_click_to_the_machine_count() -> None:
    row, first = _apply({}, "https://shop.example/a", LATER)
    assert first == {"clickedCount": 1}
    row, second = _apply(row, "https://shop.example/b", "2024-01-15T11:01:01+00:00")
    assert second == {"clickedCount": -1, "machineClickedCount": 1}
    assert "clickedAt" not in row
    assert row["machineClickedAt"] == LATER
    row, third = _apply(row, "https://shop.example/c", "2024-01-15T11:01:01.500000+00:00")
    assert third == {}  # one machine per recipient
    _, replay = _apply(row, "https://shop.example/a", LATER)
    assert replay == {}  # the first event again changes nothing


def test_the_same_link_twice_quickly_is_a_double_click_not_a_scanner() -> None:
    row, _ = _apply({}, "https://shop.example/a", LATER)
    _, deltas = _apply(row, "https://shop.example/a", "2024-01-15T11:01:00.300000+00:00")
    assert deltas == {}
    assert row["clickedAt"] == LATER


def test_unsubscribe_link_clicks_are_never_engagement() -> None:
    for agent in (BROWSER, "curl/8"):
        assert plan_click({}, "https://herald.example/u/tok123", agent, LATER, DELIVERED, RULES) is None


async def test_machine_clicks_are_counted_apart_from_clicks(harness, make_event):
    emails = ["p@example.com", "s@example.com", "u@example.com", "b@example.com"]
    await harness.seed_campaign(recipientCount=4, sentCount=4)
    await harness.seed_ledger(*emails)
    unsubscribe = harness.settings.public_url.rstrip("/") + "/u/token-abc"

    def click(email: str, link: str, at: str, agent: str = BROWSER) -> dict[str, Any]:
        return make_event("Click", recipient=email, message_id=f"msg-{email}", link=link, timestamp=at, userAgent=agent)

    async with harness.running():
        await harness.publish(
            click("p@example.com", "https://shop.example/a", "2024-01-15T11:01:00.000Z"),  # a person
            click("s@example.com", "https://shop.example/a", "2024-01-15T11:02:00.000Z"),  # a scanner: every link
            click("s@example.com", "https://shop.example/b", "2024-01-15T11:02:00.400Z"),
            click("s@example.com", "https://shop.example/c", "2024-01-15T11:02:00.800Z"),
            click("u@example.com", unsubscribe, "2024-01-15T11:03:00.000Z"),  # leaving
            click("b@example.com", "https://shop.example/a", "2024-01-15T11:04:00.000Z", agent="Barracuda/1.0"),
        )
        await harness.drained()
        stats = await harness.campaign()

    assert stats.get("clickedCount") == 1
    assert stats.get("machineClickedCount") == 2
    assert "clickedAt" not in await harness.ledger("u@example.com")
    assert (await harness.ledger("s@example.com")).get("machineClickedAt") == "2024-01-15T11:02:00.000Z"
