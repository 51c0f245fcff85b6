"""Provider pacing within a batch: recipients whose provider has no slot are parked behind the others, then wait for
their provider; the policy's limits become shared buckets (fake gate for the queue order; the buckets themselves run
against the emulator in tests/faults/test_deliverability.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from herald_processor.daily_pacing import DailySlot
from herald_processor.domain import BatchDeferred
from herald_processor.provider_pacing import (
    WARMUP_RETRY_SECONDS,
    PacedQueue,
    ProviderLimit,
    parse_policy,
    provider_limits,
)
from herald_processor.providers import Provider, domain_of
from herald_processor.shared_throttle import BLOCK_TTL_SECONDS, SEND_LAG_SECONDS
from tests.processor.test_service import job


class FakeGate:
    """Tokens per provider; a wait refills `refill_on_wait` tokens (the time passing) when asked to wait."""

    def __init__(
        self, tokens: dict[Provider, int], *, limited: bool = True, refill_on_wait: int = 0, warmup: int = 1000
    ) -> None:
        self.warmup = warmup
        self.tokens = tokens
        self.is_limited = limited
        self.refill_on_wait = refill_on_wait
        self.lookups: list[str] = []
        self.waits: list[Provider] = []
        self.daily: list[float] = []  # daily pacing's answers, in turn; then `daily_after` (0: a slot at once)
        self.daily_after = 0.0
        self.backlogs: list[int] = []

    async def limited(self, tenant_id: str) -> bool:
        assert tenant_id == "acme"
        return self.is_limited

    async def warmup_slot(self, tenant_id: str, domain: str) -> bool:
        assert domain == "news.example"
        if self.warmup == 0:
            return False
        self.warmup -= 1
        return True

    async def daily_slot(self, tenant_id: str, domain: str, backlog: int, *, max_wait: float) -> DailySlot:
        assert (tenant_id, domain) == ("acme", "news.example")
        self.backlogs.append(backlog)
        return DailySlot(self.daily.pop(0) if self.daily else self.daily_after)

    async def provider_of(self, email: str) -> Provider:
        self.lookups.append(email)
        return {"gmail.com": Provider.GOOGLE, "outlook.com": Provider.MICROSOFT}.get(domain_of(email), Provider.OTHER)

    async def take(self, tenant_id: str, provider: Provider, *, max_wait: float) -> bool:
        if provider not in self.tokens:
            return True
        if self.tokens[provider] == 0 and max_wait > 0:
            self.waits.append(provider)
            self.tokens[provider] += self.refill_on_wait
        if self.tokens[provider] > 0:
            self.tokens[provider] -= 1
            return True
        return False


def identity(email: str) -> str:
    return email


async def drain(queue: PacedQueue[str], max_wait: float) -> list[str]:
    taken = []
    while (item := await queue.take(max_wait=max_wait)) is not None:
        taken.append(item)
    return taken


async def test_others_go_first_and_the_rest_stays_for_a_deferral() -> None:
    items = ["g1@gmail.com", "g2@gmail.com", "e1@example.com", "g3@gmail.com", "m1@outlook.com", "e2@example.com"]
    gate = FakeGate({Provider.GOOGLE: 1, Provider.MICROSOFT: 5})
    queue = PacedQueue(items, identity, gate, "acme", "news.example")
    await queue.classify()
    assert await drain(queue, max_wait=0.0) == ["g1@gmail.com", "e1@example.com", "m1@outlook.com", "e2@example.com"]
    # what is left is exactly google's, in order, and still in the queue (handed back unclaimed)
    assert list(queue) == ["g2@gmail.com", "g3@gmail.com"]
    assert len(queue) == 2
    assert queue


async def test_parked_recipients_wait_for_their_provider_within_the_budget() -> None:
    items = ["g1@gmail.com", "g2@gmail.com", "e1@example.com", "g3@gmail.com"]
    gate = FakeGate({Provider.GOOGLE: 0}, refill_on_wait=1)
    queue = PacedQueue(items, identity, gate, "acme", "news.example")
    await queue.classify()
    assert await drain(queue, max_wait=5.0) == ["e1@example.com", "g1@gmail.com", "g2@gmail.com", "g3@gmail.com"]
    assert gate.waits == [Provider.GOOGLE] * 3
    assert not queue


async def test_put_back_recipients_come_first_again() -> None:
    gate = FakeGate({})
    queue = PacedQueue(["a@example.com", "b@example.com", "c@example.com"], identity, gate, "acme", "news.example")
    await queue.classify()
    first = await queue.take(max_wait=0.0)
    second = await queue.take(max_wait=0.0)
    queue.extendleft(reversed([first, second]))
    assert await drain(queue, max_wait=0.0) == ["a@example.com", "b@example.com", "c@example.com"]


async def test_without_provider_limits_no_lookup_and_plain_order() -> None:
    items = ["g1@gmail.com", "e1@example.com"]
    gate = FakeGate({Provider.GOOGLE: 0}, limited=False)
    queue = PacedQueue(items, identity, gate, "acme", "news.example")
    await queue.classify()
    assert await drain(queue, max_wait=0.0) == items
    assert gate.lookups == []


def test_policy_limits_become_shared_buckets_scaled_by_the_factor() -> None:
    stored = json.dumps({"providers": {"google": {"perMinute": 60, "perHour": 3600}, "nope": {"perMinute": 1}}})
    limits = parse_policy(stored)
    assert limits == {Provider.GOOGLE: ProviderLimit(per_minute=60, per_hour=3600)}
    buckets = provider_limits("acme", Provider.GOOGLE, limits[Provider.GOOGLE], factor=0.5)
    assert [(b.key, b.rate) for b in buckets] == [
        ("acme#provider#google/minute", 60 / (60 + BLOCK_TTL_SECONDS + SEND_LAG_SECONDS) * 0.5),
        ("acme#provider#google/hour", 0.5),
    ]
    assert provider_limits("acme", Provider.APPLE, ProviderLimit()) == []
    assert parse_policy(None) == {}


async def test_the_days_warmup_allowance_stops_the_batch_and_keeps_the_rest() -> None:
    items = ["e1@example.com", "g1@gmail.com", "e2@example.com", "e3@example.com"]
    gate = FakeGate({}, warmup=2)
    queue = PacedQueue(items, identity, gate, "acme", "news.example")
    await queue.classify()
    assert await drain(queue, max_wait=5.0) == ["e1@example.com", "g1@gmail.com"]
    assert queue.day_exhausted
    assert list(queue) == ["e2@example.com", "e3@example.com"]


# Through the batch service: a recipient's provider slot is taken before its chunk's claim, so one whose
# provider has no slot is never claimed and goes back with the deferral, its attempt (retry budget) untouched.


def paced_world(world, gate: FakeGate, recipients: int) -> None:
    world.pacer = gate
    world.campaigns.campaign = replace(
        world.campaigns.campaign, from_address="news@news.example", recipient_count=recipients
    )


async def test_an_exhausted_providers_recipients_go_back_unclaimed_after_the_others(world) -> None:
    paced_world(world, FakeGate({Provider.GOOGLE: 1}), 4)
    with pytest.raises(BatchDeferred):
        await world.service().process(job("g1@gmail.com", "g2@gmail.com", "a@example.com", "b@example.com"))
    assert sorted(e.destination for e in world.sender.sent) == ["a@example.com", "b@example.com", "g1@gmail.com"]
    assert world.ledger.states() == {"g1@gmail.com": "sent", "a@example.com": "sent", "b@example.com": "sent"}
    assert sum(world.ledger.claim_sizes) == 3  # g2 was never claimed: no attempt spent on it


async def test_the_rest_is_sent_once_its_provider_has_slots_again(world) -> None:
    gate = FakeGate({Provider.GOOGLE: 1})
    paced_world(world, gate, 3)
    with pytest.raises(BatchDeferred):
        await world.service().process(job("g1@gmail.com", "g2@gmail.com", "a@example.com"))
    gate.tokens[Provider.GOOGLE] = 1
    report = await world.service().process(job("g1@gmail.com", "g2@gmail.com", "a@example.com"), receive_count=2)
    assert sorted(e.destination for e in world.sender.sent) == ["a@example.com", "g1@gmail.com", "g2@gmail.com"]
    assert world.ledger.rows["g2@gmail.com"].attempt == 1  # claimed once, by the batch that sent it
    assert report.campaign_completed


async def test_the_warmup_allowance_defers_the_batch_with_the_rest_unclaimed(world) -> None:
    paced_world(world, FakeGate({}, warmup=2), 4)
    with pytest.raises(BatchDeferred) as deferred:
        await world.service().process(job("e1@example.com", "e2@example.com", "e3@example.com", "e4@example.com"))
    assert deferred.value.seconds == WARMUP_RETRY_SECONDS
    assert len(world.sender.sent) == 2
    assert sorted(world.ledger.states().values()) == ["sent", "sent"]
    assert sum(world.ledger.claim_sizes) == 2
