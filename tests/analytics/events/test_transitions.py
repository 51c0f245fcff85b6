"""The ledger's forward-only rules: which outcome replaces which, and what each does to the counters."""

from __future__ import annotations

import pytest

from herald_analytics.events.schemas import Effect
from herald_analytics.events.transitions import plan_transition

AT = "2024-01-15T10:30:02.000Z"


@pytest.mark.parametrize(
    ("current", "effect", "expected"),
    [
        (None, Effect.DELIVERED, ("delivered", {"deliveredCount": 1})),
        (None, Effect.BOUNCED, ("bounced", {"bouncedCount": 1})),
        (None, Effect.SOFT_BOUNCED, ("softBounced", {"softBouncedCount": 1})),
        (None, Effect.REJECTED, ("rejected", {"rejectedCount": 1})),
        ("softBounced", Effect.DELIVERED, ("delivered", {"deliveredCount": 1, "softBouncedCount": -1})),
        ("softBounced", Effect.BOUNCED, ("bounced", {"bouncedCount": 1, "softBouncedCount": -1})),
        ("delivered", Effect.BOUNCED, ("bounced", {"bouncedCount": 1, "deliveredCount": -1})),  # async bounce
        ("bounced", Effect.DELIVERED, None),  # out of order: a Delivery never un-bounces
        ("rejected", Effect.DELIVERED, None),
        ("delivered", Effect.DELIVERED, None),
        ("delivered", Effect.SOFT_BOUNCED, None),
        ("bounced", Effect.SOFT_BOUNCED, None),
        ("softBounced", Effect.SOFT_BOUNCED, None),
        ("bounced", Effect.BOUNCED, None),
        ("delivered", Effect.REJECTED, None),
    ],
)
def test_delivery_moves_forward_only(current, effect, expected):
    row = {"delivery": current} if current else {}

    transition = plan_transition(row, effect, AT)

    if expected is None:
        assert transition is None
    else:
        assert transition is not None
        assert (transition.value, transition.deltas) == expected
        assert transition.attribute == "delivery"


@pytest.mark.parametrize(
    ("effect", "attribute", "counter"),
    [
        (Effect.COMPLAINED, "complainedAt", "complainedCount"),
        (Effect.OPENED, "openedAt", "openedCount"),
        (Effect.CLICKED, "clickedAt", "clickedCount"),
        (Effect.DELAYED, "delayedAt", "delayedCount"),
    ],
)
def test_flags_are_set_once(effect, attribute, counter):
    first = plan_transition({"delivery": "delivered"}, effect, AT)
    second = plan_transition({"delivery": "delivered", attribute: AT}, effect, AT)

    assert first is not None
    assert (first.attribute, first.value, first.deltas) == (attribute, AT, {counter: 1})
    assert second is None


def test_events_without_effect_change_nothing():
    assert plan_transition({}, Effect.NONE, AT) is None
