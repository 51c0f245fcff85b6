"""Warm-up: the ramp of a new sending domain, day by day up to the account's daily quota, held by a counter that
two processors share (the emulator's DynamoDB, a clock the test moves)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from herald_processor.warmup import DAY_SECONDS, DynamoWarmup, WarmupPolicy, allowance, parse_warmup

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

RAMP = WarmupPolicy(start_per_day=7, daily_growth=2.0)


class Clock:
    def __init__(self) -> None:
        self.now = 20_000 * DAY_SECONDS + 3600.0

    def __call__(self) -> float:
        return self.now


def test_the_ramp_grows_daily_until_the_quota() -> None:
    assert [allowance(RAMP, day, 50.0) for day in range(4)] == [7, 14, 28, None]  # 56 ≥ 50: warmed up
    assert allowance(RAMP, 10, None) == 7 * 2**10  # no known quota: the ramp goes on
    assert parse_warmup(json.dumps({"warmup": {"startPerDay": 7, "dailyGrowth": 2.0}})) == RAMP
    assert parse_warmup(json.dumps({"warmup": {"enabled": False, "startPerDay": 7}})) is None
    assert parse_warmup(json.dumps({"providers": {}})) is None


async def test_two_processors_share_the_days_allowance(aws: AwsClients, herald_settings: HeraldSettings) -> None:
    clock = Clock()
    table = herald_settings.resources.throttle_table
    processors = [DynamoWarmup(aws.require_dynamodb(), table, 50.0, clock=clock) for _ in range(2)]

    async def sends_today() -> int:
        granted = 0
        for _ in range(20):  # far more than a day allows, alternating between the processors
            for processor in processors:
                granted += await processor.take("acme", "news.example", RAMP)
        return granted

    # Both keep asking, so every slot either took is spent: exactly the day's allowance, never more.
    assert await sends_today() == 7  # day 0
    clock.now += DAY_SECONDS
    assert await sends_today() == 14
    clock.now += DAY_SECONDS
    assert await sends_today() == 28
    # Another domain of the tenant starts its own ramp at day 0.
    other = sum([await processors[0].take("acme", "shop.example", RAMP) for _ in range(20)])
    assert other == 7
    clock.now += DAY_SECONDS  # day 3: 56 ≥ the quota of 50, warmed up: no warm-up limit
    assert await sends_today() == 40
