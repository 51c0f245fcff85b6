"""Adaptive pacing: analytics counts a provider's DeliveryDelay events and Transient bounces in the throttle table;
every processor replays the same history into the provider's rate factor (AIMD), against the emulator's DynamoDB
with a clock the test moves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from herald_analytics.events.pushback import SLOT_SECONDS, DynamoPushbackSignals
from herald_analytics.events.schemas import BounceType, CampaignRef, EventType, SesEvent
from herald_processor.adaptive_pacing import AimdPolicy, DynamoAdaptiveRates, replay
from herald_processor.providers import Provider, ProviderDirectory

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

POLICY = AimdPolicy(interval_slots=1, threshold=3, decrease=0.5, increase=0.25, floor=0.05, history=20)


class NoMx:
    async def mx(self, domain: str) -> list[str]:
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_replay_is_multiplicative_down_additive_up() -> None:
    assert replay([], POLICY) == 1.0
    assert replay([True], POLICY) == 0.5
    assert replay([True, True, True], POLICY) == 0.125
    assert replay([True] * 10, POLICY) == POLICY.floor
    assert replay([True, True, False], POLICY) == 0.5
    assert replay([True, True, False, False, False, False], POLICY) == 1.0


def event(kind: EventType, email: str, bounce: BounceType | None = None, tenant: str = "acme") -> SesEvent:
    return SesEvent(
        event_type=kind,
        message_id="m-" + email,
        timestamp="2027-01-15T08:00:00.000Z",
        recipients=(email,),
        campaign=CampaignRef(tenant, "camp_0123456789abcdef0123"),
        bounce_type=bounce,
    )


@pytest.mark.parametrize(
    ("pushback", "lowers"),
    [
        (event(EventType.DELIVERY_DELAY, "a@gmail.com"), True),
        (event(EventType.BOUNCE, "a@gmail.com", BounceType.TRANSIENT), True),
        (event(EventType.BOUNCE, "a@gmail.com", BounceType.PERMANENT), False),  # a hard bounce is the address's
        (event(EventType.DELIVERY, "a@gmail.com"), False),
    ],
)
async def test_pushback_lowers_the_providers_rate_and_clean_intervals_restore_it(
    aws: AwsClients, herald_settings: HeraldSettings, pushback: SesEvent, lowers: bool
) -> None:
    table = herald_settings.resources.throttle_table
    clock = Clock()
    signals = DynamoPushbackSignals(aws.require_dynamodb(), table, clock=clock)
    rates = [
        DynamoAdaptiveRates(aws.require_dynamodb(), table, ProviderDirectory(NoMx()), POLICY, clock=clock)
        for _ in range(2)  # two processors
    ]
    assert await rates[0].factor("acme", Provider.GOOGLE) == 1.0
    for _ in range(2):  # two intervals, each with the provider pushing back
        await signals.observe([pushback] * 3 + [event(EventType.DELIVERY_DELAY, "b@example.com")])
        clock.now += SLOT_SECONDS
    lowered = 0.25 if lowers else 1.0
    for processor in rates:  # both processors agree
        assert await processor.factor("acme", Provider.GOOGLE) == lowered
        assert await processor.factor("acme", Provider.OTHER) == 1.0  # one event: below the threshold
        assert await processor.factor("globex", Provider.GOOGLE) == 1.0  # another tenant's pacing is its own
    clock.now += SLOT_SECONDS  # one clean interval
    assert await rates[0].factor("acme", Provider.GOOGLE) == (0.5 if lowers else 1.0)
    clock.now += 2 * SLOT_SECONDS
    assert await rates[1].factor("acme", Provider.GOOGLE) == 1.0  # recovered up to the policy
