"""The shared token bucket: its pure arithmetic, and several "processors" leasing from one DynamoDB table at once."""

from __future__ import annotations

import asyncio
import contextvars
import secrets

import pytest

from herald_processor.domain import Throttle
from herald_processor.shared_throttle import (
    BLOCK_TTL_SECONDS,
    DynamoThrottleBucket,
    Limit,
    lease_size,
    limits_for,
    refill,
)


def test_a_send_takes_from_the_campaign_minute_hour_and_account_buckets():
    limits = limits_for("acme#camp_1", Throttle(emails_per_minute=600, emails_per_hour=7200), 14.0)
    assert [(limit.key, limit.rate) for limit in limits] == [
        ("acme#camp_1/minute", 600 / 61),  # see the next test
        ("acme#camp_1/hour", 2.0),
        ("account", 14.0),
    ]
    assert limits_for("acme#camp_1", Throttle(), None) == []


@pytest.mark.parametrize("per_minute", [1, 60, 600, 6000, 100_000])
def test_no_sixty_second_window_can_exceed_the_minute_limit_plus_one_block(per_minute):
    # A token is spent at most BLOCK_TTL_SECONDS after the bucket gave it out, and the bucket gives out at most its
    # capacity plus rate × time: the most any 60 s window can hold is the limit plus one block, and hardly less.
    (limit,) = limits_for("acme#camp_1", Throttle(emails_per_minute=per_minute), None)
    most = limit.capacity + limit.rate * (60.0 + BLOCK_TTL_SECONDS)
    assert most <= per_minute + limit.block + 1e-9
    assert limit.rate * 60.0 >= per_minute * 0.98


@pytest.mark.parametrize(("rate", "block"), [(100.0, 5), (10.0, 5), (4.0, 2), (1.0, 1), (1 / 3600, 1)])
def test_blocks_are_small_and_never_more_than_half_a_second_of_the_rate(rate, block):
    assert Limit("k", rate).block == block
    assert Limit("k", rate).capacity == block


def test_refill_adds_the_rate_times_the_time_up_to_the_capacity():
    limit = Limit("k", 10.0)
    assert refill(0.0, 100.0, 100.2, limit) == pytest.approx(2.0)
    assert refill(1.5, 100.0, 160.0, limit) == 5.0  # an idle bucket does not save up a minute's worth
    assert refill(3.0, 100.0, 99.0, limit) == 3.0  # a clock behind the stored one adds nothing
    assert lease_size(4.99, limit) == 4
    assert lease_size(0.5, limit) == 0
    assert lease_size(9.0, limit) == 5


class VirtualTime:
    """A clock for the buckets that moves only when they sleep, so the load on the machine (slow DynamoDB calls, a
    starved event loop) cannot change what a test counts: no time passes while a bucket talks to the table.

    A sleep moves the clock to the end of the sleeper's wait, counted from that task's last reading of the clock, then
    yields: tasks sleeping at once move it to the latest of their ends, not to the sum of their waits."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self._last_read: contextvars.ContextVar[float] = contextvars.ContextVar("last_read")

    def clock(self) -> float:
        self._last_read.set(self.now)
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = max(self.now, self._last_read.get(self.now) + seconds)
        await asyncio.sleep(0)


async def test_processors_sharing_the_table_stay_within_the_rate_together(herald_settings, aws):
    table = herald_settings.resources.throttle_table
    key = "acme#camp_" + secrets.token_hex(6)
    throttle = Throttle(emails_per_minute=600)  # 10 per second for the whole fleet
    time = VirtualTime()
    processors = [DynamoThrottleBucket(aws.dynamodb, table, clock=time.clock, sleep=time.sleep) for _ in range(3)]
    stamps: list[float] = []
    run_for = 3.0
    started = time.now

    async def sender(bucket: DynamoThrottleBucket) -> None:
        while time.now - started < run_for:
            if await bucket.acquire(key, throttle, max_wait=run_for):
                stamps.append(time.now - started)  # the grant's time: the clock has not moved since

    await asyncio.gather(*(sender(bucket) for processor in processors for bucket in (processor, processor)))
    within = [t for t in stamps if t < run_for]
    # Rate × time plus the bucket's capacity (one block) at the start: never more, and not much less.
    assert len(within) <= 10 * run_for + 5 + 1
    assert len(within) >= 0.75 * 10 * run_for
    one_second = max(sum(1 for t in within if s <= t < s + 1.0) for s in within)
    assert one_second <= 10 + 5


async def test_a_token_beyond_max_wait_is_refused_at_once(herald_settings, aws):
    bucket = DynamoThrottleBucket(aws.dynamodb, herald_settings.resources.throttle_table)
    key = "acme#camp_" + secrets.token_hex(6)
    hourly = Throttle(emails_per_hour=60)  # one a minute: the first goes, the next is a minute away
    assert await bucket.acquire(key, hourly, max_wait=0.5)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = DynamoThrottleBucket(aws.dynamodb, herald_settings.resources.throttle_table, sleep=sleep)
    assert not await bucket.acquire(key, hourly, max_wait=0.5)
    assert slept == [], "refused at once, without waiting for the token"


async def test_the_account_rate_applies_across_campaigns(herald_settings, aws):
    table = herald_settings.resources.throttle_table
    bucket = DynamoThrottleBucket(aws.dynamodb, table, account_rate=4.0)  # blocks of 2
    first = [await bucket.acquire(f"acme#camp_{i}", Throttle(), max_wait=0.0) for i in range(3)]
    assert first == [True, True, False]  # two campaigns took the account's block


async def test_without_its_table_the_bucket_falls_back_to_per_process_limits(herald_settings, aws):
    bucket = DynamoThrottleBucket(aws.dynamodb, herald_settings.resources.throttle_table + "-missing")
    key = "acme#camp_" + secrets.token_hex(6)
    hourly = Throttle(emails_per_hour=60)
    assert await bucket.acquire(key, hourly, max_wait=0.5)
    assert not await bucket.acquire(key, hourly, max_wait=0.5)  # still limited, now in this process
