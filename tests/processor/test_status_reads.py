"""Campaign status reads shared by a process's running batches: never older than asked, one read in flight per
campaign, a failed read not kept."""

from __future__ import annotations

import asyncio

import pytest

from herald_processor.domain import Campaign, CampaignStatus
from herald_processor.status import SharedStatusReads

pytestmark = pytest.mark.asyncio


class CountingStore:
    def __init__(self) -> None:
        self.reads = 0
        self.status = CampaignStatus.SENDING
        self.fail = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        self.reads += 1
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("DynamoDB unavailable")
        return Campaign(tenant_id, campaign_id, self.status, "t", "news@example.com")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_read_serves_every_batch_until_it_is_max_age_old():
    store, clock = CountingStore(), Clock()
    reads = SharedStatusReads(store, clock=clock)  # type: ignore[arg-type]
    first = await reads.get("t1", "c1", max_age=2.0)
    assert first is not None
    assert first.status is CampaignStatus.SENDING
    store.status = CampaignStatus.PAUSED
    clock.now += 1.9
    assert (await reads.get("t1", "c1", max_age=2.0)).status is CampaignStatus.SENDING  # type: ignore[union-attr]
    assert store.reads == 1
    clock.now += 0.1
    assert (await reads.get("t1", "c1", max_age=2.0)).status is CampaignStatus.PAUSED  # type: ignore[union-attr]
    assert store.reads == 2
    # Another campaign, or a read that must be fresh (a batch's start), reads again.
    await reads.get("t1", "c2", max_age=2.0)
    await reads.get("t1", "c1", max_age=0.0)
    assert store.reads == 4


async def test_concurrent_batches_share_one_read_in_flight():
    store, clock = CountingStore(), Clock()
    reads = SharedStatusReads(store, clock=clock)  # type: ignore[arg-type]
    store.gate.clear()
    waiting = [asyncio.create_task(reads.get("t1", "c1", max_age=2.0)) for _ in range(4)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*waiting)
    assert store.reads == 1
    assert {r.campaign_id for r in results if r is not None} == {"c1"}


async def test_a_failed_read_is_not_kept():
    store, clock = CountingStore(), Clock()
    reads = SharedStatusReads(store, clock=clock)  # type: ignore[arg-type]
    store.fail = True
    with pytest.raises(RuntimeError):
        await reads.get("t1", "c1", max_age=2.0)
    store.fail = False
    assert await reads.get("t1", "c1", max_age=2.0) is not None
    assert store.reads == 2
