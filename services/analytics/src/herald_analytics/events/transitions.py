"""The ledger's forward-only rules for SES outcomes: a pure function of (row, effect), unit-tested.

Campaign counters mirror the ledger: each counter is the number of rows in that state (or with that flag), so
every transition adds 1 to the new state's counter and takes 1 from the old one's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from herald_analytics.events.schemas import Effect

if TYPE_CHECKING:
    from collections.abc import Mapping

DELIVERY_ATTRIBUTE = "delivery"

# ledger `delivery` value → campaign counter (docs/architecture.md)
DELIVERY_COUNTERS = {
    Effect.DELIVERED: "deliveredCount",
    Effect.BOUNCED: "bouncedCount",
    Effect.SOFT_BOUNCED: "softBouncedCount",
    Effect.REJECTED: "rejectedCount",
}
_COUNTER_BY_STATE = {effect.value: counter for effect, counter in DELIVERY_COUNTERS.items()}

# Which `delivery` values each outcome may replace (None = no outcome yet). Bounced and rejected are final.
# - A Delivery after a Bounce does not un-bounce (SES may publish them out of order).
# - A Permanent bounce after a Delivery IS recorded: the receiving server accepted the message and bounced it
#   later (an asynchronous bounce). The address is bad and "delivered" would overstate reach; deliveredCount is
#   decremented so delivered + bounced never exceeds what was sent.
# - A Transient bounce is only recorded before any other outcome: after a Delivery it is noise, and a later
#   Delivery or hard bounce replaces it (softBouncedCount is "currently soft-bounced", awaiting a retry).
_DELIVERY_FROM: dict[Effect, frozenset[str | None]] = {
    Effect.DELIVERED: frozenset({None, Effect.SOFT_BOUNCED.value}),
    Effect.BOUNCED: frozenset({None, Effect.SOFT_BOUNCED.value, Effect.DELIVERED.value}),
    Effect.SOFT_BOUNCED: frozenset({None}),
    Effect.REJECTED: frozenset({None, Effect.SOFT_BOUNCED.value}),
}

# Flags set once per recipient: (ledger attribute, campaign counter).
ONCE_FLAGS = {
    Effect.COMPLAINED: ("complainedAt", "complainedCount"),
    Effect.DELAYED: ("delayedAt", "delayedCount"),
    Effect.OPENED: ("openedAt", "openedCount"),
    Effect.CLICKED: ("clickedAt", "clickedCount"),
}
# An open judged a machine's prefetch (opens.py) is flagged apart and left out of `openedCount` and the open rate.
MACHINE_OPEN_FLAG = ("machineOpenedAt", "machineOpenedCount")
# When the Delivery was (the event's timestamp): what a later Open is compared with.
DELIVERED_AT = "deliveredAt"

# Effects whose plan depends on the row alone and moves it forward: an event planned again against the row it moved
# plans nothing, so the row's conditional move is that event's dedupe and the batch path writes no event record for
# it. An open is judged against what the row knew then (machine or human, opens.py), so a replay could be judged
# the other way and set the other flag: opens keep their event record.
ROW_DEDUPED = frozenset(
    {Effect.DELIVERED, Effect.BOUNCED, Effect.SOFT_BOUNCED, Effect.REJECTED, Effect.COMPLAINED, Effect.DELAYED,
     Effect.CLICKED}
)  # fmt: skip


@dataclass(frozen=True)
class Requirement:
    """A condition on the processor's attributes of the row, checked in the same write as the transition."""

    state: str
    message_id: str | None = None  # the row's messageId must be this one
    no_message_id: bool = False  # the row must have no messageId yet
    counted: bool | None = None  # True: `counted = true`; False: `counted` absent; None: either


@dataclass(frozen=True)
class Transition:
    """Set ledger `attribute` to `value` (and `also`, `numbers`; remove `remove`); add `deltas` to the counters.

    `mark_counted` sets the processor's `counted` flag in the same write: analytics then owns the counting of
    this recipient's final state (its deltas include `finalCount`), and the processor's own count drops it.
    """

    attribute: str
    value: str
    deltas: dict[str, int] = field(default_factory=dict)
    also: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    mark_counted: bool = False
    require: Requirement | None = None


def plan_transition(row: Mapping[str, str], effect: Effect, at: str, *, machine: bool = False) -> Transition | None:
    """The change `effect` makes to a ledger row (its string attributes), or None when it changes nothing.

    `machine`: an Open judged a prefetch; it sets its own flag, never `openedAt`.
    """
    if effect in DELIVERY_COUNTERS:
        current = row.get(DELIVERY_ATTRIBUTE) or None
        if current not in _DELIVERY_FROM[effect]:
            return None
        deltas = {DELIVERY_COUNTERS[effect]: 1}
        if current is not None and current in _COUNTER_BY_STATE:
            deltas[_COUNTER_BY_STATE[current]] = -1
        also = {DELIVERED_AT: at} if effect is Effect.DELIVERED and at else {}
        return Transition(DELIVERY_ATTRIBUTE, effect.value, deltas, also=also)
    if effect is Effect.OPENED and machine:
        attribute, counter = MACHINE_OPEN_FLAG
        return None if row.get(attribute) else Transition(attribute, at, {counter: 1})
    if effect in ONCE_FLAGS:
        attribute, counter = ONCE_FLAGS[effect]
        if row.get(attribute):
            return None
        return Transition(attribute, at, {counter: 1})
    return None
