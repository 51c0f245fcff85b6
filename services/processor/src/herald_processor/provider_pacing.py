"""Mailbox-provider pacing: the tenant's sending policy limits each provider per minute and per hour, for the whole
fleet, through the same shared DynamoDB buckets as the campaign and account limits (keys
`{tenant}#provider#{provider}/minute` and `…/hour`).

A batch sends in the order its providers allow: a recipient whose provider bucket is empty is parked while the
batch's other recipients go first; the parked ones then wait for their provider within the batch's time budget, and
whatever is left goes back to the queue unclaimed (a deferral, which spends no retry budget).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import structlog

from herald_common.metrics import PROVIDER_RATE, PROVIDER_RATE_FACTOR
from herald_processor.daily_pacing import DailySlot
from herald_processor.providers import Provider
from herald_processor.shared_throttle import BLOCK_TTL_SECONDS, SEND_LAG_SECONDS, Limit
from herald_processor.warmup import parse_warmup

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_processor.daily_pacing import DailyPacer
    from herald_processor.providers import ProviderDirectory
    from herald_processor.quota_lease import QuotaLease
    from herald_processor.shared_throttle import DynamoThrottleBucket
    from herald_processor.warmup import DynamoWarmup, WarmupPolicy

log = structlog.get_logger("herald.processor.pacing")

POLICY_CACHE_SECONDS = 5.0  # how soon a `PUT /sending-policy` reaches every processor
WARMUP_RETRY_SECONDS = 900  # a batch past the day's warm-up allowance looks again this much later (SQS's longest delay)
CLASSIFY_CONCURRENCY = 16

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderLimit:
    per_minute: int | None = None
    per_hour: int | None = None


def parse_policy(raw: str | None) -> dict[Provider, ProviderLimit]:
    """The provider limits of a stored policy (the campaign service's `PUT /sending-policy` body)."""
    if not raw:
        return {}
    providers = json.loads(raw).get("providers") or {}
    return {
        Provider(name): ProviderLimit(limit.get("perMinute"), limit.get("perHour"))
        for name, limit in providers.items()
        if name in Provider.__members__.values()
    }


def provider_limits(tenant_id: str, provider: Provider, limit: ProviderLimit, factor: float = 1.0) -> list[Limit]:
    """The shared buckets one send to `provider` takes a token from; `factor` (adaptive pacing, at most 1) scales
    the policy's rates down while the provider pushes back."""
    key = f"{tenant_id}#provider#{provider.value}"
    limits = []
    if limit.per_minute:
        limits.append(Limit(f"{key}/minute", provider_minute_rate(limit.per_minute) * factor))
    if limit.per_hour:
        limits.append(Limit(f"{key}/hour", limit.per_hour / 3600.0 * factor))
    return limits


def provider_minute_rate(per_minute: int) -> float:
    """The provider's per-minute bucket rate. As for a campaign (`shared_throttle.minute_rate`), a send spends a token
    given out at most BLOCK_TTL_SECONDS earlier; a provider's SES call also waits for its chunk's claim, up to
    SEND_LAG_SECONDS. So the sends of any 60-second window come from tokens given out within
    60 + BLOCK_TTL_SECONDS + SEND_LAG_SECONDS: at this rate, never more than `per_minute` plus one block, whatever
    the number of processors. It costs 3/63 of the rate."""
    return per_minute / (60.0 + BLOCK_TTL_SECONDS + SEND_LAG_SECONDS)


class PolicySource(Protocol):
    async def provider_limits(self, tenant_id: str) -> dict[Provider, ProviderLimit]:
        """The tenant's provider limits (empty: none)."""
        ...

    async def warmup(self, tenant_id: str) -> WarmupPolicy | None:
        """The tenant's warm-up ramp (None: none)."""
        ...


class DynamoPolicySource:
    """Reads `policy#{tenant}` from the throttle table (written by the campaign service), cached briefly."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock
        self._cache: dict[str, tuple[dict[Provider, ProviderLimit], WarmupPolicy | None, float]] = {}

    async def provider_limits(self, tenant_id: str) -> dict[Provider, ProviderLimit]:
        return (await self._read(tenant_id))[0]

    async def warmup(self, tenant_id: str) -> WarmupPolicy | None:
        return (await self._read(tenant_id))[1]

    async def _read(self, tenant_id: str) -> tuple[dict[Provider, ProviderLimit], WarmupPolicy | None, float]:
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[2] > now:
            return cached
        item = (
            await self._db.get_item(
                TableName=self._table, Key={"bucketKey": {"S": f"policy#{tenant_id}"}}, ConsistentRead=True
            )
        ).get("Item")
        raw = item["policy"]["S"] if item else None
        self._cache[tenant_id] = (parse_policy(raw), parse_warmup(raw), now + POLICY_CACHE_SECONDS)
        return self._cache[tenant_id]


class RateFactors(Protocol):
    async def factor(self, tenant_id: str, provider: Provider) -> float:
        """How much of the policy's rate the provider gets now (adaptive pacing), in (0, 1]."""
        ...


class ProviderGate(Protocol):
    async def limited(self, tenant_id: str) -> bool:
        """Whether the tenant's policy limits any provider or ramps up new domains (if not, nothing to pace)."""
        ...

    async def warmup_slot(self, tenant_id: str, domain: str) -> bool:
        """One of today's warm-up sends of the sending domain (True at once without a warm-up policy)."""
        ...

    async def provider_of(self, email: str) -> Provider:
        """The mailbox provider of an address."""
        ...

    async def take(self, tenant_id: str, provider: Provider, *, max_wait: float) -> bool:
        """One send slot of the tenant's provider limits (True at once when the policy sets none)."""
        ...

    async def daily_slot(self, tenant_id: str, domain: str, backlog: int, *, max_wait: float) -> DailySlot:
        """One send slot of the daily pacing (daily_pacing.py) for a campaign with `backlog` unsent recipients:
        wait 0 when taken (or none applies), else about the seconds until the next one."""
        ...


class ProviderPacer:
    """`ProviderGate` over the shared buckets."""

    def __init__(
        self,
        directory: ProviderDirectory,
        policies: PolicySource,
        bucket: DynamoThrottleBucket,
        factors: RateFactors | None = None,
        warmup: DynamoWarmup | None = None,
        daily: DailyPacer | None = None,
    ) -> None:
        self._directory = directory
        self._policies = policies
        self._bucket = bucket
        self._factors = factors
        self._warmup = warmup
        self._daily = daily

    async def limited(self, tenant_id: str) -> bool:
        policies = self._policies
        return bool(await policies.provider_limits(tenant_id)) or await policies.warmup(tenant_id) is not None

    async def warmup_slot(self, tenant_id: str, domain: str) -> bool:
        policy = await self._policies.warmup(tenant_id)
        if policy is None or self._warmup is None:
            return True
        return await self._warmup.take(tenant_id, domain, policy)

    async def provider_of(self, email: str) -> Provider:
        return await self._directory.provider_of(email)

    async def daily_slot(self, tenant_id: str, domain: str, backlog: int, *, max_wait: float) -> DailySlot:
        if self._daily is None:
            return DailySlot(0.0)
        ramp = await self._policies.warmup(tenant_id)
        return await self._daily.slot(tenant_id, domain, backlog, ramp, max_wait=max_wait)

    async def take(self, tenant_id: str, provider: Provider, *, max_wait: float) -> bool:
        limit = (await self._policies.provider_limits(tenant_id)).get(provider)
        if limit is None:
            return True
        factor = await self._factors.factor(tenant_id, provider) if self._factors else 1.0
        PROVIDER_RATE_FACTOR.labels(tenant_id, provider.value).set(factor)
        per_minute = limit.per_minute or (limit.per_hour or 0) / 60
        PROVIDER_RATE.labels(tenant_id, provider.value).set(per_minute * factor)
        return await self._bucket.acquire_limits(provider_limits(tenant_id, provider, limit, factor), max_wait=max_wait)


class PacedQueue(Generic[T]):
    """A batch's recipients in the order their providers allow (a plain FIFO without a gate)."""

    def __init__(
        self,
        items: Iterable[T],
        email_of: Callable[[T], str],
        gate: ProviderGate | None,
        tenant_id: str,
        sender_domain: str = "",
        backlog: int = 0,
    ) -> None:
        self.day_exhausted = False  # the sending domain's warm-up allowance for today is used up
        self.paced_for = 0.0  # daily pacing (daily_pacing.py): seconds until its next slot, when it stopped a take
        self._sender_domain = sender_domain
        self._backlog = backlog  # the campaign's unsent recipients, fleet-wide
        self._daily = gate
        self._ready: deque[T] = deque(items)
        self._email_of = email_of
        self._gate = gate
        self._tenant_id = tenant_id
        self._provider: dict[int, Provider] = {}
        self._parked: dict[Provider, deque[T]] = {}
        self._leases: dict[int, QuotaLease] = {}  # taken items → their lease over the last of SES's quota

    async def classify(self) -> None:
        """Look up every recipient's provider once, before the first send (MX lookups run in parallel)."""
        gate = self._gate
        if gate is None:
            return
        if not await gate.limited(self._tenant_id):
            self._gate = None  # no provider limits: a plain FIFO, no lookups
            return
        limit = asyncio.Semaphore(CLASSIFY_CONCURRENCY)

        async def one(item: T) -> None:
            async with limit:
                self._provider[id(item)] = await gate.provider_of(self._email_of(item))

        await asyncio.gather(*(one(item) for item in self._ready))

    def __bool__(self) -> bool:
        return bool(self._ready) or any(self._parked.values())

    def __len__(self) -> int:
        return len(self._ready) + sum(len(p) for p in self._parked.values())

    def __iter__(self) -> Iterator[T]:
        yield from self._ready
        for parked in self._parked.values():
            yield from parked

    def extendleft(self, items: Iterable[T]) -> None:
        """Put items back at the front (e.g. SES refused them for now); like `deque.extendleft`, reversed."""
        self._ready.extendleft(items)

    def provider(self, item: T) -> Provider:
        return self._provider.get(id(item), Provider.OTHER)

    async def take(self, *, max_wait: float) -> T | None:
        """The next recipient whose provider slot (and daily and warm-up slots) is taken; None: nothing can go within
        `max_wait` (`paced_for` says when daily pacing has the next slot), or today's warm-up allowance is used up
        (`day_exhausted`). Over the last of SES's quota the recipient comes with a lease (`lease_of`)."""
        deadline = time.monotonic() + max_wait
        item = await self._take_provider(max_wait=max_wait)
        if item is None:
            return None
        lease = None
        if self._daily is not None:
            # Before the warm-up slot, which is a share of the day's allowance: a daily slot not used costs nothing.
            wait = max(0.0, deadline - time.monotonic())
            paced = await self._daily.daily_slot(self._tenant_id, self._sender_domain, self._backlog, max_wait=wait)
            if paced.wait > 0:
                self._ready.appendleft(item)
                self.paced_for = paced.wait
                return None
            self.paced_for, lease = 0.0, paced.lease
        try:
            allowed = self._gate is None or await self._gate.warmup_slot(self._tenant_id, self._sender_domain)
        except BaseException:  # cancelled (handler timeout, shutdown) or failed before the send: the lease goes back
            if lease is not None:
                await lease.release()
            raise
        if allowed:
            if lease is not None:
                self._leases[id(item)] = lease
            return item
        self._ready.appendleft(item)
        self.day_exhausted = True
        if lease is not None:
            await lease.release()
        return None

    def lease_of(self, item: T) -> QuotaLease | None:
        """The lease a taken recipient's send holds over the last of SES's quota (the sender releases it once SES
        has answered); None outside the last stretch."""
        return self._leases.pop(id(item), None)

    async def _take_provider(self, *, max_wait: float) -> T | None:
        """The ready recipients first, parking those whose provider is out of tokens; then the parked ones, waiting
        up to `max_wait`."""
        gate = self._gate
        if gate is None:
            return self._ready.popleft() if self._ready else None
        deadline = time.monotonic() + max_wait
        while self._ready:
            item = self._ready.popleft()
            provider = self.provider(item)
            if not self._parked.get(provider) and await gate.take(self._tenant_id, provider, max_wait=0.0):
                return item
            self._parked.setdefault(provider, deque()).append(item)  # behind the provider's earlier ones
        while waiting := [p for p, items in self._parked.items() if items]:
            for provider in waiting:
                if await gate.take(self._tenant_id, provider, max_wait=0.0) and self._parked[provider]:
                    return self._parked[provider].popleft()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await gate.take(self._tenant_id, waiting[0], max_wait=remaining):
                return None
            if self._parked[waiting[0]]:  # the other lane may have sent the last one meanwhile
                return self._parked[waiting[0]].popleft()
        return None
