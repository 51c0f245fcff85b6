"""Several analytics replicas: a stream served by one shows what another counted (a real SSE client over HTTP).

Each count is waited for (a condition), not timed: SPEC's "within 2 s of the SES event" is a budget made of the
consumer's long poll (it returns as a message arrives) and the stream's poll interval (0.5 s by default; 0.1 s here),
and a wall-clock bound on a shared 2-core machine measures the machine's load more than either."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from herald_analytics.app import create_app
from tests.analytics.stats.test_api import _auth, _next_stats, _served

pytestmark = pytest.mark.timeout(60)

CAMPAIGN = "camp_0123456789abcdefghij"
EMAILS = [f"user{n}@example.com" for n in range(5)]


async def test_a_stream_on_one_replica_shows_what_another_replica_counted(harness, make_event, free_port):
    await harness.seed_campaign(recipientCount=5, sentCount=5, finalCount=5)
    await harness.seed_ledger(*EMAILS)
    # Replica A serves the API only; replica B consumes the SES events. Nothing A shows can come from A's counting.
    api_only = create_app(harness.settings.model_copy(update={"analytics_consume_events": False}))
    consumer = create_app(harness.settings)
    headers = _auth(harness)
    async with (
        _served(api_only, free_port()) as url_a,
        _served(consumer, free_port()) as url_b,
        httpx.AsyncClient(base_url=url_a, timeout=10) as client_a,
        httpx.AsyncClient(base_url=url_b, timeout=10) as client_b,
        client_a.stream("GET", f"/campaigns/{CAMPAIGN}/stream", headers=headers) as stream_a,
        client_b.stream("GET", f"/campaigns/{CAMPAIGN}/stream", headers=headers) as stream_b,
    ):
        lines_a, lines_b = stream_a.aiter_lines(), stream_b.aiter_lines()
        first_a = await asyncio.wait_for(_next_stats(lines_a), timeout=5)
        first_b = await asyncio.wait_for(_next_stats(lines_b), timeout=5)
        assert first_a["delivered"] == first_b["delivered"] == 0

        seen: list[int] = []
        for email in EMAILS:
            await harness.publish(make_event("Delivery", recipient=email, message_id=f"m-{email}"))
            stats = await asyncio.wait_for(_next_stats(lines_a), timeout=30)
            while stats["delivered"] < len(seen) + 1:
                stats = await asyncio.wait_for(_next_stats(lines_a), timeout=30)
            seen.append(stats["delivered"])
        last_b = await asyncio.wait_for(_next_stats(lines_b), timeout=30)
        while last_b["delivered"] < len(EMAILS):
            last_b = await asyncio.wait_for(_next_stats(lines_b), timeout=30)

    assert seen == [1, 2, 3, 4, 5]  # each event shown by A before the next was published
    assert last_b["delivered"] == 5
    # Replica A never consumed: the queue's events were all counted by B, and A's stream showed every one.
    assert (await harness.campaign())["deliveredCount"] == 5
