"""Counting SES Send events once per recipient, so the delivery report can set Herald's sent count against them.

A Send event proves SES accepted the message. Its first sight on a row sets `sendEventAt` and adds 1 to the
campaign's `sesSendEventCount`, in the row's forward-only conditional move (a redelivered event finds the flag set and
plans nothing, so it needs no event record). A Send that reconciles an in-doubt row (resends.py) sets it in the same
write as the reconciliation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald_analytics.events.transitions import Transition

if TYPE_CHECKING:
    from collections.abc import Mapping

SEND_SEEN = ("sendEventAt", "sesSendEventCount")


def plan_send_seen(row: Mapping[str, str], at: str) -> Transition | None:
    """Flag the row's Send event as seen (and count it), or None when it was seen already."""
    attribute, counter = SEND_SEEN
    return None if row.get(attribute) else Transition(attribute, at, {counter: 1})


def with_send_seen(transition: Transition, row: Mapping[str, str], at: str) -> Transition:
    """A reconciliation that also flags and counts the Send event, unless the row saw one already."""
    attribute, counter = SEND_SEEN
    if row.get(attribute):
        return transition
    return Transition(
        transition.attribute,
        transition.value,
        {**transition.deltas, counter: 1},
        also={**transition.also, attribute: at},
        numbers=transition.numbers,
        remove=transition.remove,
        mark_counted=transition.mark_counted,
        require=transition.require,
    )
