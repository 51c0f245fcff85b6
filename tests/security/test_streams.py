"""Live streams (`GET /campaigns/{id}/stream`): a stream ends at its token's `exp` (an `expired` event, then the end),
a tenant holds at most `HERALD_STREAM_MAX_PER_TENANT` streams per replica (429 `TooManyStreams` beyond), and however
many streams watch a campaign, the replica reads its item once per interval."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_analytics.app import create_app
from herald_analytics.config import Settings
from herald_analytics.stats.schemas import compute_stats
from herald_analytics.stats.service import StatsService, StreamEnd
from herald_analytics.stats.watchers import CampaignWatchers
from herald_common.auth import mint_token
from tests.analytics.stats.test_api import _served

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(90)

CAMPAIGN = "camp_0123456789abcdefghij"


def _settings(base: HeraldSettings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "resource_prefix": base.resource_prefix,
        "aws_endpoint_url": base.aws_endpoint_url,
        "analytics_consume_events": False,
        "stream_poll_interval": 0.1,
    }
    return Settings(**(values | overrides))


async def _seed(aws: AwsClients, settings: Settings, tenant: str = "acme") -> None:
    await aws.require_dynamodb().put_item(
        TableName=settings.resources.campaigns_table,
        Item={
            "tenantId": {"S": tenant},
            "campaignId": {"S": CAMPAIGN},
            "status": {"S": "sending"},
            "recipientCount": {"N": "3"},
            "updatedAt": {"S": "2026-01-01T00:00:00.000Z"},
        },
    )


def _auth(settings: Settings, tenant: str = "acme", ttl: int = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, tenant_id=tenant, roles=['viewer'], ttl_seconds=ttl)}"}


async def _events(lines: AsyncIterator[str]) -> list[str]:
    """Every event name until the server ends the stream."""
    names: list[str] = []
    async for line in lines:
        if line.startswith("event:"):
            names.append(line.split(":", 1)[1].strip())
    return names


async def test_a_stream_ends_at_its_tokens_exp(
    herald_settings: HeraldSettings, aws: AwsClients, free_port: Any
) -> None:
    """The issue's reproduction: a stream opened with a short-lived token kept delivering after it expired."""
    settings = _settings(herald_settings)
    await _seed(aws, settings)
    headers = _auth(settings, ttl=2)
    exp = int(time.time()) + 2  # what mint_token wrote, give or take the second it was minted in
    async with (
        _served(create_app(settings), free_port()) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", f"/campaigns/{CAMPAIGN}/stream", headers=headers) as stream,
    ):
        assert stream.status_code == 200
        names = await asyncio.wait_for(_events(stream.aiter_lines()), timeout=30)  # the server ends it
        ended = time.time()
    assert names[0] == "stats"
    assert names[-1] == "expired"
    assert ended >= exp - 1


async def test_the_tenants_concurrent_streams_are_capped(
    herald_settings: HeraldSettings, aws: AwsClients, free_port: Any
) -> None:
    settings = _settings(herald_settings, stream_max_per_tenant=2)
    await _seed(aws, settings)
    await _seed(aws, settings, tenant="globex")
    path = f"/campaigns/{CAMPAIGN}/stream"
    async with (
        _served(create_app(settings), free_port()) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", path, headers=_auth(settings)) as first,
    ):
        assert first.status_code == 200
        async with client.stream("GET", path, headers=_auth(settings)) as second:
            assert second.status_code == 200
            over = await client.get(path, headers=_auth(settings))
            assert over.status_code == 429
            assert over.json()["error"] == "TooManyStreams"
            assert set(over.json()) == {"error", "detail"}
            assert int(over.headers["Retry-After"]) > 0
            async with client.stream("GET", path, headers=_auth(settings, "globex")) as other:
                assert other.status_code == 200  # another tenant's slots are its own
        # The second stream closed: its slot comes back once the server has seen it go.
        deadline = time.monotonic() + 10
        while True:
            async with client.stream("GET", path, headers=_auth(settings)) as again:
                if again.status_code == 200:
                    break
                assert again.status_code == 429
            assert time.monotonic() < deadline, "a closed stream's slot never came back"
            await asyncio.sleep(0.1)


class GatedSource:
    """A campaign source (the stream's port) whose reads wait for the test to let them answer."""

    def __init__(self) -> None:
        self.reads = 0
        self.waiting = 0
        self.gate = asyncio.Event()
        self.sent = 0

    async def get(self, tenant_id: str, campaign_id: str) -> dict[str, Any] | None:
        self.reads += 1
        self.waiting += 1
        await self.gate.wait()
        self.gate.clear()
        self.waiting -= 1
        return {"tenantId": tenant_id, "campaignId": campaign_id, "status": "sending", "sentCount": self.sent}


async def _until(check: Any) -> None:
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_one_read_per_interval_however_many_streams_watch() -> None:
    source = GatedSource()
    watchers = CampaignWatchers(source, poll_interval=0.001, max_per_tenant=100)
    service = StatsService(source, watchers)
    first = compute_stats({"campaignId": CAMPAIGN, "status": "sending", "sentCount": 0})
    streams = []
    for _ in range(50):
        subscription = service.subscribe("acme", CAMPAIGN, first)
        stream = service.watch(subscription, first, until=None)
        assert await anext(stream) == first
        streams.append(stream)
    nexts = [asyncio.ensure_future(anext(s)) for s in streams]
    await _until(lambda: source.waiting == 1)
    for _ in range(20):  # give 50 pollers every chance to show up: there is only one
        await asyncio.sleep(0.005)
    assert (source.reads, source.waiting) == (1, 1)

    source.sent = 7
    source.gate.set()  # one read answers: every stream gets the change
    results = await asyncio.wait_for(asyncio.gather(*nexts), timeout=10)
    assert all(isinstance(r, type(first)) and r.sent == 7 for r in results)
    await _until(lambda: source.waiting == 1)
    assert source.reads == 2

    for stream in streams:
        await stream.aclose()  # every stream leaves: the watcher stops, its slots come back
    assert watchers.open_streams("acme") == 0
    assert watchers.watching("acme", CAMPAIGN) == 0
    await watchers.close()


async def test_a_watching_stream_ends_at_until_even_without_changes() -> None:
    source = GatedSource()  # never answers: no change will ever come
    watchers = CampaignWatchers(source, poll_interval=0.001, max_per_tenant=1)
    service = StatsService(source, watchers)
    first = compute_stats({"campaignId": CAMPAIGN, "status": "sending"})
    stream = service.watch(service.subscribe("acme", CAMPAIGN, first), first, until=time.time() + 0.3)
    assert await anext(stream) == first
    assert await asyncio.wait_for(anext(stream), timeout=10) is StreamEnd.TOKEN_EXPIRED
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert watchers.open_streams("acme") == 0  # the slot came back with the end
    await watchers.close()


class BrokenOnceSource(GatedSource):
    """Its first read fails with a fault that is not DynamoDB's (a bug); later reads answer."""

    async def get(self, tenant_id: str, campaign_id: str) -> dict[str, Any] | None:
        if self.reads == 0:
            self.reads += 1
            raise RuntimeError("a bug in the watcher's path")
        self.reads += 1
        return {"tenantId": tenant_id, "campaignId": campaign_id, "status": "sending", "sentCount": 3}


async def test_a_failed_watcher_ends_its_streams_and_the_next_stream_gets_a_new_one() -> None:
    source = BrokenOnceSource()
    watchers = CampaignWatchers(source, poll_interval=0.001, max_per_tenant=5)
    service = StatsService(source, watchers)
    first = compute_stats({"campaignId": CAMPAIGN, "status": "sending", "sentCount": 0})
    stream = service.watch(service.subscribe("acme", CAMPAIGN, first), first, until=None)
    assert await anext(stream) == first
    with pytest.raises(StopAsyncIteration):  # ended, not frozen: the client reconnects
        await asyncio.wait_for(anext(stream), timeout=10)
    again = service.watch(service.subscribe("acme", CAMPAIGN, first), first, until=None)
    assert await anext(again) == first
    update = await asyncio.wait_for(anext(again), timeout=10)
    assert not isinstance(update, StreamEnd)
    assert update.sent == 3
    await again.aclose()
    assert watchers.open_streams("acme") == 0
    await watchers.close()
