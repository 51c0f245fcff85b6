"""Adaptive pacing: each mailbox provider's share of the policy rate, by additive increase and multiplicative
decrease (AIMD) over the pushback analytics records (DeliveryDelay events and Transient bounces, per tenant,
recipient domain and 10-second slot: herald_analytics.events.pushback).

The factor is a pure function of the recent pushback history, replayed from full rate: an interval with at least
`threshold` pushback events for the provider multiplies the factor by `decrease`, a clean one adds `increase` (up to
1). Every processor reads the same history, so the fleet agrees on each provider's rate without a coordinator or a
write of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from herald_processor.providers import Provider

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_processor.providers import ProviderDirectory

log = structlog.get_logger("herald.processor.pacing")

SLOT_SECONDS = 10  # analytics' pushback slot (herald_analytics.events.pushback.SLOT_SECONDS)
BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem's limit per call


@dataclass(frozen=True)
class AimdPolicy:
    interval_slots: int = 6  # one minute
    threshold: int = 5  # pushback events in an interval that count as the provider pushing back
    decrease: float = 0.5
    increase: float = 0.1
    floor: float = 0.05
    history: int = 20  # intervals replayed: enough to climb back from the floor

    @property
    def interval_seconds(self) -> int:
        return self.interval_slots * SLOT_SECONDS


def replay(pushed_back: Sequence[bool], policy: AimdPolicy) -> float:
    """The factor after these intervals (oldest first), starting from the full policy rate."""
    factor = 1.0
    for pushed in pushed_back:
        factor = max(policy.floor, factor * policy.decrease) if pushed else min(1.0, factor + policy.increase)
    return factor


@dataclass
class _Factors:
    interval: int
    by_provider: dict[Provider, float]


class DynamoAdaptiveRates:
    """`RateFactors` from the pushback items in the throttle table, read once per interval and tenant."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        directory: ProviderDirectory,
        policy: AimdPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._directory = directory
        self._policy = policy or AimdPolicy()
        self._clock = clock
        self._cache: dict[str, _Factors] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def factor(self, tenant_id: str, provider: Provider) -> float:
        current = int(self._clock() // self._policy.interval_seconds)  # the interval in progress is not judged yet
        cached = self._cache.get(tenant_id)
        if cached is None or cached.interval != current:
            async with self._locks.setdefault(tenant_id, asyncio.Lock()):
                cached = self._cache.get(tenant_id)
                if cached is None or cached.interval != current:
                    cached = _Factors(current, await self._compute(tenant_id, current))
                    self._cache[tenant_id] = cached
        return cached.by_provider.get(provider, 1.0)

    async def _compute(self, tenant_id: str, current: int) -> dict[Provider, float]:
        policy = self._policy
        first = current - policy.history
        slots = range(first * policy.interval_slots, current * policy.interval_slots)
        counts = await self._pushback(tenant_id, slots)  # slot → domain → events
        per_interval: list[Counter[Provider]] = [Counter() for _ in range(policy.history)]
        for slot, domains in counts.items():
            for domain, n in domains.items():
                provider = await self._directory.provider_of(f"x@{domain}")
                per_interval[slot // policy.interval_slots - first][provider] += n
        factors = {
            provider: replay([c[provider] >= policy.threshold for c in per_interval], policy) for provider in Provider
        }
        lowered = {p.value: round(f, 3) for p, f in factors.items() if f < 1.0}
        if lowered:
            log.info("processor.provider_rates_lowered", tenantId=tenant_id, factors=lowered)
        return factors

    async def _pushback(self, tenant_id: str, slots: range) -> dict[int, dict[str, int]]:
        keys = [f"pushback#{tenant_id}#{slot}" for slot in slots]
        found: dict[int, dict[str, int]] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {self._table: {"Keys": [{"bucketKey": {"S": k}} for k in keys[start : start + BATCH_GET_KEYS]]}}
            while request:
                answer = await self._db.batch_get_item(RequestItems=request)  # type: ignore[arg-type]
                for item in answer.get("Responses", {}).get(self._table, []):
                    slot = int(item["bucketKey"]["S"].rpartition("#")[2])
                    found[slot] = {name[2:]: int(value["N"]) for name, value in item.items() if name.startswith("d:")}
                request = answer.get("UnprocessedKeys") or {}  # type: ignore[assignment]
        return found
