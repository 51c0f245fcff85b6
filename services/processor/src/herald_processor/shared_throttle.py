"""The send-rate limits shared by every processor: token buckets in DynamoDB, leased a small block at a time.

One item per bucket (`{tenant}#{campaign}/minute`, `…/hour`, `account`) holds `tokens` and `refilledAt`. A processor
refills the item by the time passed, takes up to a block of tokens with a conditional write on the `refilledAt` it
read (optimistic: a concurrent lease makes it read again), and spends that block locally. So the table sees one write
per block, not per email, and the whole fleet sends no more than the bucket's rate plus its capacity (one block) in
any window, counting from BLOCK_TTL_SECONDS before it: a block that was not spent within that time is dropped rather
than sent late in a burst (see `minute_rate` for what this means for a campaign's per-minute limit).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_processor.repository import error_code, is_condition_failure
from herald_processor.throttle import LocalThrottleBucket

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_processor.domain import Throttle

log = structlog.get_logger("herald.processor.throttle")

DEFAULT_BLOCK = 5
BLOCK_SECONDS = 0.5  # a block is at most this many seconds of the bucket's rate (and at least one token)
BLOCK_TTL_SECONDS = 1.0
# A send slot (a provider's, provider_pacing.py; the lease over the last of SES's quota, quota_lease.py) is taken
# before the chunk's ledger claim, so its SES call comes up to this much later (a claim on a loaded machine). The
# provider's per-minute bucket is slowed to cover it (`provider_minute_rate`), and the lease lasts that much longer.
SEND_LAG_SECONDS = 2.0
IDLE_ITEM_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Limit:
    """One bucket: its key in the table and its rate in tokens per second."""

    key: str
    rate: float

    @property
    def block(self) -> int:
        return max(1, min(DEFAULT_BLOCK, int(self.rate * BLOCK_SECONDS)))

    @property
    def capacity(self) -> float:
        return float(self.block)


def limits_for(key: str, throttle: Throttle, account_rate: float | None) -> list[Limit]:
    """The buckets one send of campaign `key` must take a token from."""
    limits = []
    if throttle.emails_per_minute:
        limits.append(Limit(f"{key}/minute", minute_rate(throttle.emails_per_minute)))
    if throttle.emails_per_hour:
        limits.append(Limit(f"{key}/hour", throttle.emails_per_hour / 3600.0))
    if account_rate:
        limits.append(Limit("account", account_rate))
    return limits


def minute_rate(emails_per_minute: int) -> float:
    """The per-minute bucket's rate: the limit spread over 60 s plus the time a leased token may wait to be spent.

    Every send spends a token the shared bucket gave out at most BLOCK_TTL_SECONDS earlier, and a bucket gives out at
    most its capacity (one block) plus rate × time in any stretch of time. So the sends in any 60-second window come
    from tokens given out within 60 + BLOCK_TTL_SECONDS seconds: at this rate, never more than the limit plus one
    block, whatever the number of processors (which lease and hold blocks of their own). It costs 1/61 of the rate."""
    return emails_per_minute / (60.0 + BLOCK_TTL_SECONDS)


def refill(tokens: float, refilled_at: float, now: float, limit: Limit) -> float:
    """The tokens in a bucket at `now`: what it had, plus the rate times the time passed, up to its capacity."""
    return min(limit.capacity, tokens + max(0.0, now - refilled_at) * limit.rate)


def lease_size(available: float, limit: Limit) -> int:
    """How many whole tokens to take now (0: none free yet)."""
    return min(limit.block, math.floor(available + 1e-9))


@dataclass
class _Held:
    tokens: int = 0
    leased_at: float = 0.0


class DynamoThrottleBucket:
    """`ThrottleBucket` shared across processes through the throttle table."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        account_rate: float | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._account_rate = account_rate
        self._clock = clock
        self._sleep = sleep
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._fallback: LocalThrottleBucket | None = None

    async def acquire(self, key: str, throttle: Throttle, *, max_wait: float) -> bool:
        """Take one token from every bucket of `key`, waiting for them; False when that would take over `max_wait`."""
        if self._fallback is not None:
            return await self._fallback.acquire(key, throttle, max_wait=max_wait)
        deadline = self._clock() + max_wait
        try:
            for limit in limits_for(key, throttle, self._account_rate):
                if not await self._take(limit, deadline):
                    return False
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            # Deployed before the throttle table was provisioned: keep sending within per-process limits.
            log.error("processor.throttle_table_missing", table=self._table)
            self._fallback = LocalThrottleBucket(self._account_rate)
            return await self._fallback.acquire(key, throttle, max_wait=max_wait)
        return True

    async def acquire_limits(self, limits: Sequence[Limit], *, max_wait: float) -> bool:
        """Take one token from each of `limits` (buckets beside a campaign's: a mailbox provider's), waiting for them;
        False when that would take over `max_wait`. Without the throttle table these limits are not held."""
        if self._fallback is not None:
            return True
        deadline = self._clock() + max_wait
        for limit in limits:
            if not await self._take(limit, deadline):
                return False
        return True

    async def _take(self, limit: Limit, deadline: float) -> bool:
        lock = self._locks.setdefault(limit.key, asyncio.Lock())
        async with lock:  # one lease in flight per bucket and process; the others spend its block
            while True:
                now = self._clock()
                held = self._held.setdefault(limit.key, _Held())
                if held.tokens and now - held.leased_at > BLOCK_TTL_SECONDS:
                    held.tokens = 0  # too old to spend without bursting above the rate
                if held.tokens:
                    held.tokens -= 1
                    return True
                wait = await self._lease(limit, held, now)
                if wait <= 0:
                    continue
                if now + wait > deadline:
                    return False
                await self._sleep(wait + random.uniform(0, 0.05))  # jitter: processors do not collide in step

    async def _lease(self, limit: Limit, held: _Held, now: float) -> float:
        """Lease a block into `held`: 0 on success, else seconds to wait before trying again."""
        item = (
            await self._db.get_item(TableName=self._table, Key={"bucketKey": {"S": limit.key}}, ConsistentRead=True)
        ).get("Item")
        tokens, refilled_at = _bucket_state(item, limit, now)
        available = refill(tokens, refilled_at, now, limit)
        take = lease_size(available, limit)
        if take == 0:
            return (1.0 - available) / limit.rate
        # Optimistic: the write holds only if nobody leased since our read (a new bucket: nobody created it).
        seen = item["refilledAt"] if item is not None else {"N": "-1"}
        try:
            await self._db.put_item(
                TableName=self._table,
                Item={
                    "bucketKey": {"S": limit.key},
                    "tokens": {"N": repr(available - take)},
                    "refilledAt": {"N": repr(now)},
                    "rate": {"N": repr(limit.rate)},
                    "expiresAt": {"N": str(int(now) + IDLE_ITEM_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(bucketKey) OR refilledAt = :seen",
                ExpressionAttributeValues={":seen": seen},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return random.uniform(0.001, 0.02)  # another processor leased meanwhile: read the bucket again
            raise
        held.tokens, held.leased_at = take, now
        return 0.0


def _bucket_state(item: dict[str, Any] | None, limit: Limit, now: float) -> tuple[float, float]:
    """(tokens, refilledAt) of a stored bucket; a new bucket starts full. A rate change keeps the tokens."""
    if item is None:
        return limit.capacity, now
    return float(item["tokens"]["N"]), float(item["refilledAt"]["N"])
