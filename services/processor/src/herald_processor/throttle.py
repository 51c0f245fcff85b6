"""A per-process rate limiter: token buckets for a campaign's throttle and for the account's SES send rate.

Buckets pace sends smoothly (a burst of at most one second's worth) rather than letting a minute's allowance go out
at once, which is what both SES and mailbox providers reward. A later version shares the buckets in DynamoDB; the
service only sees the `ThrottleBucket` port.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from herald_processor.domain import Throttle

BURST_SECONDS = 1.0
_MAX_IDLE_BUCKETS = 10_000


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def per_second(cls, rate: float, now: float) -> TokenBucket:
        capacity = max(1.0, rate * BURST_SECONDS)
        return cls(rate=rate, capacity=capacity, tokens=capacity, updated=now)

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def wait_for_one(self, now: float) -> float:
        """Seconds until a token is free (0 when one is free now). Tokens below zero are earlier reservations."""
        self.refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class LocalThrottleBucket:
    """`ThrottleBucket` for one process: campaign limits keyed by campaign, plus one account-wide bucket."""

    def __init__(
        self,
        account_rate: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._account_rate = account_rate
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, float], TokenBucket] = {}

    def _bucket(self, key: str, rate: float, now: float) -> TokenBucket:
        bucket = self._buckets.get((key, rate))
        if bucket is None:
            if len(self._buckets) > _MAX_IDLE_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[(key, rate)] = TokenBucket.per_second(rate, now)
        return bucket

    def _forget_full(self, now: float) -> None:
        for bucket_key, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[bucket_key]

    def _buckets_for(self, key: str, throttle: Throttle, now: float) -> list[TokenBucket]:
        buckets = []
        if throttle.emails_per_minute:
            buckets.append(self._bucket(f"{key}/minute", throttle.emails_per_minute / 60.0, now))
        if throttle.emails_per_hour:
            buckets.append(self._bucket(f"{key}/hour", throttle.emails_per_hour / 3600.0, now))
        if self._account_rate:
            buckets.append(self._bucket("account", self._account_rate, now))
        return buckets

    async def acquire(self, key: str, throttle: Throttle, *, max_wait: float) -> bool:
        """Reserve one send slot, waiting for it if needed; False (nothing reserved) if it is beyond `max_wait`."""
        now = self._clock()
        buckets = self._buckets_for(key, throttle, now)
        wait = max((b.wait_for_one(now) for b in buckets), default=0.0)
        if wait > max_wait:
            return False
        # Reserve before sleeping (no await in between): later callers queue behind this reservation.
        for bucket in buckets:
            bucket.tokens -= 1.0
        if wait > 0:
            await self._sleep(wait)
        return True
