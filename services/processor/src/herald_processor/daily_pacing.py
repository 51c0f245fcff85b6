"""Daily pacing: a campaign larger than what is left of a daily allowance is spread over the rest of the day, rather
than sent at full rate until the allowance runs out and then stopped.

Two allowances are paced, each only while the campaign's unsent recipients (its backlog) exceed what is left of it:
- the account's: SES's `Max24HourSend - SentLast24Hours` (GetAccount, or v1 GetSendQuota), read at most every
  `HERALD_SES_QUOTA_INTERVAL` seconds;
- the warm-up ramp's (warmup.py): the sending domain's allowance for the day less what the fleet took of it.
The rate is what is left over the seconds left in the day (UTC days of `HERALD_PACING_DAY_SECONDS`, 86,400), held
for the whole fleet by a bucket in the shared throttle table (`daily#account`, `daily#{tenant}#{domain}`), beside
the campaign, account and provider buckets. Each processor works the rate out afresh from what SES and the ramp
say is left, so sends that run behind raise it and the fleet never needs to agree on a plan. With nothing left of
SES's quota, the batch goes back to the queue until the next day (looking again at least every 15 minutes, as SES's
24 hours roll), so the campaign stays `sending` rather than meeting SES's refusal; the warm-up ramp's own end does
the same for its allowance.

Over the last `FRESH_BELOW` sends of SES's quota, a send also holds the fleet's lease (quota_lease.py) from a fresh
read of what is left until SES has answered it, so two processors never both send the last one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.metrics import DAILY_PACE
from herald_processor.shared_throttle import Limit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sesv2 import SESV2Client

    from herald_processor.quota_lease import QuotaLease, QuotaLeases
    from herald_processor.shared_throttle import DynamoThrottleBucket
    from herald_processor.warmup import DynamoWarmup, WarmupPolicy

log = structlog.get_logger("herald.processor.pacing")

DAY_SECONDS = 86_400
# Never spread over less than this (or a twentieth of a shorter day): near the day's end, what is left goes on at a
# rate the fleet can keep track of and the rest waits for the next day, rather than a rate that divides by almost
# nothing sending the last of the quota faster than a fresh read of it can see the sends still in flight.
MIN_WINDOW_SECONDS = 60.0
# Near the end of SES's quota a read even a second old may count sends another processor has made since: below this
# many left, SES is asked afresh before every slot, so the fleet's last sends do not meet SES's refusal.
FRESH_BELOW = 10
# How long a send waits before asking again for the lease over the last of the quota (another send holds it: about
# one SES call).
LEASE_RETRY_SECONDS = 0.5


def seconds_left(now: float, day_seconds: float) -> float:
    """Seconds until the current day (of `day_seconds`, counted from the epoch: UTC days) ends."""
    return day_seconds - (now % day_seconds)


def daily_rate(remaining: float, backlog: int, left: float, min_window: float = MIN_WINDOW_SECONDS) -> float | None:
    """Sends per second that spread `remaining` over `left` seconds (at least `min_window`); None when no pacing is
    due (the backlog fits in what is left, or nothing is left: then the allowance's own end applies)."""
    if remaining <= 0 or backlog <= remaining:
        return None
    return remaining / max(left, min_window)


@dataclass(frozen=True)
class DailySlot:
    """A daily pacing answer: `wait` 0 when the send may go now, else about how many seconds until it may; `lease`,
    over the last of SES's quota, is held for this send and must be released once SES has answered it."""

    wait: float
    lease: QuotaLease | None = None


class AccountQuota:
    """What is left of SES's daily quota, read from SES at most every `refresh` seconds (None: unlimited)."""

    def __init__(
        self,
        *,
        sesv2: SESV2Client | None = None,
        ses: SESClient | None = None,
        refresh: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._v2 = sesv2
        self._v1 = ses
        self._refresh = refresh
        self._clock = clock
        self._cached: tuple[float | None, float] | None = None

    async def remaining(self) -> float | None:
        now = self._clock()
        cached = self._cached
        if cached is None or cached[1] <= now or (cached[0] is not None and cached[0] <= FRESH_BELOW):
            cached = self._cached = (await self._read(), now + self._refresh)
        return cached[0]

    async def fresh(self) -> float | None:
        """What is left, read from SES now."""
        self._cached = (await self._read(), self._clock() + self._refresh)
        return self._cached[0]

    async def _read(self) -> float | None:
        try:
            if self._v2 is not None:
                quota = (await self._v2.get_account())["SendQuota"]
                limit, sent = quota.get("Max24HourSend"), quota.get("SentLast24Hours")
            elif self._v1 is not None:
                answer = await self._v1.get_send_quota()
                limit, sent = answer.get("Max24HourSend"), answer.get("SentLast24Hours")
            else:
                return None
        except (ClientError, BotoCoreError, KeyError) as exc:
            # Unknown for now: no pacing (SES's own refusal still stops sending at the quota).
            log.warning("processor.daily_quota_unknown", error=str(exc))
            return None
        if limit is None or limit <= 0:
            return None
        return float(limit) - float(sent or 0)


class DailyPacer:
    """Takes a send slot from each daily bucket that applies to a campaign's next send."""

    def __init__(
        self,
        bucket: DynamoThrottleBucket,
        quota: AccountQuota | None,
        warmup: DynamoWarmup | None,
        *,
        leases: QuotaLeases | None = None,
        day_seconds: float = DAY_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bucket = bucket
        self._quota = quota
        self._warmup = warmup
        self._leases = leases  # None: the last of the quota goes without the lease
        self._sleep = sleep
        self._day = day_seconds
        self._min_window = min(MIN_WINDOW_SECONDS, day_seconds / 20)
        self._clock = clock

    async def limits(
        self, tenant_id: str, domain: str, backlog: int, ramp: WarmupPolicy | None, *, account_left: float | None = None
    ) -> list[Limit]:
        """The daily buckets a send of this campaign takes a token from now (none while its backlog fits);
        `account_left`: what is left of SES's quota, when the caller has just read it."""
        left = seconds_left(self._clock(), self._day)
        limits: list[Limit] = []
        if self._quota is not None:
            if account_left is None:
                account_left = await self._quota.remaining()
            rate = daily_rate(account_left or 0.0, backlog, left, self._min_window)
            DAILY_PACE.labels(tenant_id, "account").set((rate or 0.0) * 60)
            if rate is not None:
                limits.append(Limit("daily#account", rate))
        if self._warmup is not None and ramp is not None:
            remaining = await self._warmup.remaining(tenant_id, domain, ramp)
            rate = daily_rate(remaining, backlog, left, self._min_window) if remaining is not None else None
            DAILY_PACE.labels(tenant_id, f"warmup:{domain}").set((rate or 0.0) * 60)
            if rate is not None:
                limits.append(Limit(f"daily#{tenant_id}#{domain}", rate))
        return limits

    async def slot(
        self, tenant_id: str, domain: str, backlog: int, ramp: WarmupPolicy | None, *, max_wait: float
    ) -> DailySlot:
        """The send may go now (wait 0, holding the lease over the last of SES's quota), or about how many seconds
        until the slowest daily bucket has a slot (the rest of the day when SES's quota is used up)."""
        left = seconds_left(self._clock(), self._day)
        account_left = await self._quota.remaining() if self._quota is not None else None
        if account_left is not None and account_left <= 0 and backlog > 0:
            return DailySlot(max(1.0, left))
        # A rate is worked out for what is left of this day: a slot is never waited for into the next one.
        max_wait = min(max_wait, left)
        deadline = self._clock() + max_wait
        for limit in await self.limits(tenant_id, domain, backlog, ramp, account_left=account_left):
            if not await self._bucket.acquire_limits([limit], max_wait=max_wait):
                return DailySlot(min(1.0 / limit.rate, max(left, 1.0)))
        leases, quota = self._leases, self._quota
        # Above FRESH_BELOW the send goes without the lease, on this processor's cached read. That read may be stale:
        # up to HERALD_SES_QUOTA_INTERVAL old (`AccountQuota.remaining`; 60 s by default, 1 s in the fault test),
        # while the rest of the fleet has used the quota down meanwhile. Accepted, because the refresh interval bounds
        # it: the next read comes within that interval and, at FRESH_BELOW or fewer, every later slot reads afresh
        # under the lease; and a lease-less send can meet SES's refusal (and the quota pause) only if the fleet sent
        # more than FRESH_BELOW since this processor's read, within that one interval. A fleet that sends that fast
        # near the end of its quota (unpaced campaigns that fit in what is left) should shorten the interval.
        if leases is None or quota is None or account_left is None or account_left > FRESH_BELOW:
            return DailySlot(0.0)
        return await self._last_of_quota(leases, quota, deadline)

    async def _last_of_quota(self, leases: QuotaLeases, quota: AccountQuota, deadline: float) -> DailySlot:
        """The lease over the last of SES's quota, then a fresh read: the send goes only if something is left once
        every send before it has had SES's answer. The bucket's token, if one was taken, is spent either way."""
        while (lease := await leases.take()) is None:
            if self._clock() + LEASE_RETRY_SECONDS > deadline:
                return DailySlot(LEASE_RETRY_SECONDS)
            await self._sleep(LEASE_RETRY_SECONDS)
        try:
            account_left = await quota.fresh()
        except BaseException:  # cancelled (handler timeout, shutdown) during the read: no send, the lease goes back
            await lease.release()
            raise
        if account_left is not None and account_left <= 0:
            await lease.release()
            return DailySlot(max(1.0, seconds_left(self._clock(), self._day)))
        return DailySlot(0.0, lease)
