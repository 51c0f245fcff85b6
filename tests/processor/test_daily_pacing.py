"""Daily pacing: what is left of a daily allowance is spread over the rest of the day when a campaign is larger than
it. The rate is a pure function; the fleet holds it through the shared buckets in the emulator's DynamoDB, here on a
virtual clock that only the buckets' waits move (no wall-clock timing); SES's quota comes from the emulator."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator
from herald_processor.daily_pacing import AccountQuota, DailyPacer, DailySlot, daily_rate, seconds_left
from herald_processor.domain import BatchDeferred
from herald_processor.provider_pacing import PacedQueue
from herald_processor.shared_throttle import DynamoThrottleBucket
from herald_processor.warmup import DynamoWarmup, WarmupPolicy
from tests.processor.test_provider_pacing import FakeGate, drain, identity, paced_world
from tests.processor.test_service import job

if TYPE_CHECKING:
    from collections.abc import Iterator

    import aioboto3

    from herald_common.aws import AwsClients

DAY = 600.0


class VirtualClock:
    """Time that passes only when a bucket waits."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class LeftOfQuota:
    """SES's quota as the processors would read it: what is left goes down with every send."""

    def __init__(self, left: int) -> None:
        self.left = left

    async def remaining(self) -> float | None:
        return float(self.left)


def test_the_rate_spreads_what_is_left_over_the_rest_of_the_day_only_when_the_backlog_exceeds_it() -> None:
    assert daily_rate(100, backlog=1000, left=3600) == pytest.approx(100 / 3600)
    assert daily_rate(100, backlog=100, left=3600) is None  # it fits: full speed
    assert daily_rate(0, backlog=1000, left=3600) is None  # nothing left: SES's refusal or the ramp's end applies
    assert daily_rate(-5, backlog=1000, left=3600) is None
    # Near the day's end: never faster than over a minute (the rest waits for the next day)
    assert daily_rate(10, backlog=1000, left=0.01) == pytest.approx(10 / 60)
    assert daily_rate(10, backlog=1000, left=0.01, min_window=5) == 2.0
    assert seconds_left(86_400 * 3 + 3600, 86_400) == 86_400 - 3600
    assert seconds_left(1_000.0, 600.0) == 200.0


async def test_two_processors_spread_the_days_quota_evenly(aws: AwsClients, herald_settings: HeraldSettings) -> None:
    table = herald_settings.resources.throttle_table
    clock = VirtualClock(1000 * DAY + 100.0)  # 500 s of the day left
    start, end, allowance = clock.now, 1001 * DAY, 50
    quota = LeftOfQuota(allowance)
    fleet = [
        DailyPacer(
            DynamoThrottleBucket(aws.require_dynamodb(), table, clock=clock, sleep=clock.sleep),
            quota,  # type: ignore[arg-type]
            None,
            day_seconds=DAY,
            clock=clock,
        )
        for _ in range(2)
    ]
    sent_at: list[float] = []
    while clock.now < end and quota.left > 0:
        for pacer in fleet:  # the processors take turns, each asking for its next slot
            wait = (await pacer.slot("acme", "news.example", backlog=400, ramp=None, max_wait=30.0)).wait
            if wait == 0:
                sent_at.append(clock.now)
                quota.left -= 1
            else:  # the batch goes back to the queue and comes back that much later
                await clock.sleep(wait)
    # The day's quota is used, never passed (the last 30 s, a twentieth of the day, go no faster than over 30 s: a
    # send or two may wait for the next day).
    assert allowance - 3 <= len(sent_at) <= allowance
    assert sent_at[-1] >= start + 0.9 * (end - start)  # still sending at the end of the day: spread, not stopped
    for count, at in enumerate(sent_at, start=1):
        # never ahead of the even spread by more than the bucket's one token
        assert count <= allowance * (at - start) / (end - start) + 1, f"{count} sent by {at - start:.0f} s"


async def test_no_pacing_while_the_campaign_fits_in_what_is_left(
    aws: AwsClients, herald_settings: HeraldSettings
) -> None:
    clock = VirtualClock(1000 * DAY)
    bucket = DynamoThrottleBucket(aws.require_dynamodb(), herald_settings.resources.throttle_table, clock=clock)
    pacer = DailyPacer(bucket, LeftOfQuota(500), None, day_seconds=DAY, clock=clock)  # type: ignore[arg-type]
    assert await pacer.limits("acme", "news.example", backlog=500, ramp=None) == []
    for _ in range(50):
        assert await pacer.slot("acme", "news.example", backlog=500, ramp=None, max_wait=0.0) == DailySlot(0.0)
    assert clock.now == 1000 * DAY


async def test_with_the_quota_used_up_the_batch_waits_for_the_next_day(
    aws: AwsClients, herald_settings: HeraldSettings
) -> None:
    clock = VirtualClock(1000 * DAY + 450.0)
    bucket = DynamoThrottleBucket(aws.require_dynamodb(), herald_settings.resources.throttle_table, clock=clock)
    pacer = DailyPacer(bucket, LeftOfQuota(0), None, day_seconds=DAY, clock=clock)  # type: ignore[arg-type]
    assert await pacer.slot("acme", "news.example", backlog=10, ramp=None, max_wait=5.0) == DailySlot(150.0)
    clock.now = 1001 * DAY - 0.2
    assert await pacer.slot("acme", "news.example", backlog=10, ramp=None, max_wait=5.0) == DailySlot(1.0)


async def test_the_warmup_days_allowance_is_spread_too(aws: AwsClients, herald_settings: HeraldSettings) -> None:
    clock = VirtualClock(2000 * DAY + 300.0)  # half the day left
    table = herald_settings.resources.throttle_table
    ramp = WarmupPolicy(start_per_day=30, daily_growth=2.0)
    warmup = DynamoWarmup(aws.require_dynamodb(), table, None, day_seconds=DAY, clock=clock)
    assert await warmup.remaining("acme", "news.example", ramp) == 30
    assert await warmup.take("acme", "news.example", ramp)  # leases a block of 5, spends one
    assert await warmup.remaining("acme", "news.example", ramp) == 29  # the four held here are still to come
    pacer = DailyPacer(DynamoThrottleBucket(aws.require_dynamodb(), table, clock=clock), None, warmup, day_seconds=DAY,
                       clock=clock)  # fmt: skip
    [limit] = await pacer.limits("acme", "news.example", backlog=200, ramp=ramp)
    assert (limit.key, limit.rate) == ("daily#acme#news.example", pytest.approx(29 / 300))
    assert await pacer.limits("acme", "news.example", backlog=29, ramp=ramp) == []
    clock.now += DAY  # the same hour of day 1: a fresh allowance of 60 over the half day left
    [limit] = await pacer.limits("acme", "news.example", backlog=200, ramp=ramp)
    assert limit.rate == pytest.approx(60 / 300)


@pytest.fixture(scope="module")
def quota_emulator(emulator: Emulator) -> Iterator[Emulator]:
    instance = Emulator("127.0.0.1", 0).start()  # its own faults (moto's data is shared)
    yield instance
    instance.stop()


async def test_what_is_left_of_the_ses_quota_comes_from_get_account(
    quota_emulator: Emulator, herald_settings: HeraldSettings, aws_session: aioboto3.Session
) -> None:
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=quota_emulator.url)
    async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=quota_emulator.url) as control:
        clients = await open_clients(stack, settings, "ses", "sesv2", session=aws_session)
        assert await AccountQuota(sesv2=clients.sesv2).remaining() is None  # no daily quota: unlimited
        sent = (await clients.sesv2.get_account())["SendQuota"]["SentLast24Hours"]
        try:
            (await control.put("/_emulator/faults", json={"sesMax24HourSend": sent + 25})).raise_for_status()
            assert await AccountQuota(sesv2=clients.sesv2).remaining() == 25
            assert await AccountQuota(ses=clients.ses).remaining() == 25
        finally:
            await control.delete("/_emulator/faults")


class CountingSes:
    """SES v2 GetAccount whose count the test moves; how often it was asked."""

    def __init__(self, limit: float, sent: float) -> None:
        self.limit, self.sent, self.reads = limit, sent, 0

    async def get_account(self) -> dict[str, Any]:
        self.reads += 1
        return {"SendQuota": {"Max24HourSend": self.limit, "SentLast24Hours": self.sent}}


async def test_the_quota_is_read_afresh_near_its_end() -> None:
    ses = CountingSes(1000, 100)
    quota = AccountQuota(sesv2=ses, refresh=60.0, clock=lambda: 0.0)  # type: ignore[arg-type]
    assert [await quota.remaining() for _ in range(3)] == [900, 900, 900]
    assert ses.reads == 1  # cached while plenty is left
    ses.sent = 995
    quota = AccountQuota(sesv2=ses, refresh=60.0, clock=lambda: 0.0)  # type: ignore[arg-type]
    assert await quota.remaining() == 5
    ses.sent = 999  # another processor's sends
    assert await quota.remaining() == 1  # near the end: never from a cache that may be behind
    assert ses.reads == 3


# The batch's side (provider_pacing.PacedQueue, the send phase), with a stand-in gate: a daily slot is taken before the
# warm-up slot, and a batch whose next daily slot is beyond its time budget goes back to the queue until then.
async def test_daily_pacing_stops_the_take_before_the_warmup_slot_and_keeps_the_recipient() -> None:
    gate = FakeGate({}, warmup=5)
    gate.daily = [0.0, 42.5]
    items = ["e1@example.com", "e2@example.com", "e3@example.com"]
    queue = PacedQueue(items, identity, gate, "acme", "news.example", 9)
    await queue.classify()
    assert await drain(queue, max_wait=1.0) == ["e1@example.com"]
    assert queue.paced_for == 42.5
    assert gate.warmup == 4  # only the recipient that went spent a warm-up slot
    assert list(queue) == ["e2@example.com", "e3@example.com"]
    assert gate.backlogs == [9, 9]
    assert not queue.day_exhausted


async def test_daily_pacing_applies_without_provider_limits() -> None:
    gate = FakeGate({}, limited=False)
    gate.daily = [3.0]
    queue = PacedQueue(["e1@example.com"], identity, gate, "acme", "news.example", 50)
    await queue.classify()
    assert await queue.take(max_wait=0.0) is None
    assert queue.paced_for == 3.0
    assert gate.lookups == []  # no MX lookups for it


async def test_daily_pacing_defers_the_batch_until_its_next_slot_with_the_rest_unclaimed(world) -> None:
    gate = FakeGate({})
    gate.daily, gate.daily_after = [0.0, 0.0], 37.2
    paced_world(world, gate, 400)
    with pytest.raises(BatchDeferred) as deferred:
        await world.service().process(job("e1@example.com", "e2@example.com", "e3@example.com", "e4@example.com"))
    assert deferred.value.seconds == 38
    assert len(world.sender.sent) == 2
    assert sorted(world.ledger.states().values()) == ["sent", "sent"]  # the other two never claimed
    assert gate.backlogs[0] == 400  # the campaign's unsent recipients, not the batch's
