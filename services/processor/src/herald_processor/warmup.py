"""Warm-up of a new sending domain: a daily allowance that grows by a factor each day until it reaches the account's
daily quota, held for the whole fleet.

Day 0 is the UTC day of the domain's first send under a warm-up policy (item `warmup#{tenant}#{domain}`, written
once). Day n allows `startPerDay × dailyGrowth^n` sends, capped by SES's Max24HourSend; once that cap is the
quota, the domain is warmed up and only the account's own limits apply. Each day's count is one item
(`warmup#{tenant}#{domain}#{day}`), taken a few slots at a time with a conditional ADD that never passes the day's
allowance, so any number of processors together send at most the allowance (slots a processor took but did not
spend are lost, never sent twice).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_processor.repository import is_condition_failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sesv2 import SESV2Client

log = structlog.get_logger("herald.processor.warmup")

DAY_SECONDS = 86_400
SLOT_BLOCK = 5
TTL_SECONDS = 3 * DAY_SECONDS


@dataclass(frozen=True)
class WarmupPolicy:
    start_per_day: int
    daily_growth: float


def parse_warmup(raw: str | None) -> WarmupPolicy | None:
    """The warm-up of a stored sending policy (None: no warm-up)."""
    if not raw:
        return None
    warmup = json.loads(raw).get("warmup")
    if not warmup or not warmup.get("enabled", True):
        return None
    return WarmupPolicy(int(warmup.get("startPerDay", 50)), float(warmup.get("dailyGrowth", 2.0)))


def allowance(policy: WarmupPolicy, day: int, quota: float | None) -> int | None:
    """Sends allowed on day `day` of the ramp; None once the ramp has reached the quota (warmed up)."""
    ramp = policy.start_per_day * policy.daily_growth ** min(day, 64)
    if quota is not None and ramp >= quota:
        return None
    return math.floor(ramp)


async def daily_quota(*, sesv2: SESV2Client | None = None, ses: SESClient | None = None) -> float | None:
    """SES's Max24HourSend (None: unlimited or unknown)."""
    try:
        if sesv2 is not None:
            limit = (await sesv2.get_account())["SendQuota"].get("Max24HourSend")
        elif ses is not None:
            limit = (await ses.get_send_quota()).get("Max24HourSend")
        else:
            return None
    except (ClientError, BotoCoreError, KeyError) as exc:
        log.warning("processor.daily_quota_unknown", error=str(exc))
        return None
    return float(limit) if limit is not None and limit > 0 else None


class DynamoWarmup:
    """Warm-up slots from the throttle table."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        quota: float | None,
        *,
        day_seconds: float = DAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._quota = quota
        self._day = day_seconds
        self._clock = clock
        self._held: dict[str, int] = {}  # `tenant#domain#day` → slots taken, not yet spent
        self._started: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def take(self, tenant_id: str, domain: str, policy: WarmupPolicy) -> bool:
        """One of today's warm-up sends for the domain; False when today's allowance is used up."""
        today = int(self._clock() // self._day)
        async with self._lock:
            day = today - await self._first_day(tenant_id, domain, today)
            cap = allowance(policy, day, self._quota)
            if cap is None:
                return True
            key = f"{tenant_id}#{domain}#{today}"
            if self._held.get(key, 0) == 0:
                self._held[key] = await self._lease(key, cap)
            if self._held[key] == 0:
                return False
            self._held[key] -= 1
            return True

    async def remaining(self, tenant_id: str, domain: str, policy: WarmupPolicy) -> int | None:
        """What is left of today's allowance across the fleet (slots this process holds count as left); None once
        the domain is warmed up (daily_pacing.py spreads it over the rest of the day)."""
        today = int(self._clock() // self._day)
        async with self._lock:
            cap = allowance(policy, today - await self._first_day(tenant_id, domain, today), self._quota)
            key = f"{tenant_id}#{domain}#{today}"
            held = self._held.get(key, 0)
        if cap is None:
            return None
        item = await self._db.get_item(
            TableName=self._table, Key={"bucketKey": {"S": f"warmup#{key}"}}, ConsistentRead=True
        )
        taken = int(item.get("Item", {}).get("sent", {}).get("N", "0"))
        return cap - taken + held

    async def _first_day(self, tenant_id: str, domain: str, today: int) -> int:
        key = f"warmup#{tenant_id}#{domain}"
        if key not in self._started:
            try:
                await self._db.put_item(
                    TableName=self._table,
                    Item={"bucketKey": {"S": key}, "firstDay": {"N": str(today)}},
                    ConditionExpression="attribute_not_exists(bucketKey)",
                )
                self._started[key] = today
                log.info("processor.warmup_started", tenantId=tenant_id, domain=domain)
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
                item = await self._db.get_item(
                    TableName=self._table, Key={"bucketKey": {"S": key}}, ConsistentRead=True
                )
                self._started[key] = int(item["Item"]["firstDay"]["N"])
        return self._started[key]

    async def _lease(self, key: str, cap: int) -> int:
        """Take up to a block of today's slots: the most that keeps the day's count within `cap`."""
        for block in range(min(SLOT_BLOCK, cap), 0, -1):
            try:
                await self._db.update_item(
                    TableName=self._table,
                    Key={"bucketKey": {"S": f"warmup#{key}"}},
                    UpdateExpression="ADD sent :n SET expiresAt = :x",
                    ConditionExpression="attribute_not_exists(sent) OR sent <= :most",
                    ExpressionAttributeValues={
                        ":n": {"N": str(block)},
                        ":most": {"N": str(cap - block)},
                        ":x": {"N": str(int(self._clock()) + TTL_SECONDS)},
                    },
                )
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
                continue
            return block
        return 0
