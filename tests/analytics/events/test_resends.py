"""Where SES events settle the processor's state of a row: Send reconciliation and soft-bounce retries (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from herald_analytics.events.ledger import LedgerRow
from herald_analytics.events.resends import (
    Settle,
    pending_retry,
    plan_send_reconciliation,
    plan_soft_bounce,
    send_readiness,
    soft_bounce_readiness,
)
from herald_analytics.events.transitions import Requirement

AT = "2024-01-15T10:30:00.000Z"
MID = "m-1"


def _row(counted: bool = False, retries: int = 0, **values: Any) -> LedgerRow:
    return LedgerRow(
        values=values, version=0, counted={}, processor_counted=counted, numbers={"softBounceRetries": retries}
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (_row(state="sending"), Settle.ACT),
        (_row(state="sending", messageId="m-0"), Settle.PASS),  # the processor recorded its send
        (_row(state="unknown", counted=True), Settle.ACT),
        (_row(state="unknown"), Settle.WAIT),  # judged in doubt, not counted yet: the processor is mid-batch
        (_row(state="sent", messageId=MID, counted=True), Settle.PASS),
        (_row(state="failed"), Settle.PASS),
    ],
)
def test_send_readiness(row, expected):
    assert send_readiness(row) is expected


def test_a_send_event_settles_a_sending_row_without_counting_it():
    transition = plan_send_reconciliation(_row(state="sending"), MID, AT)

    assert transition is not None
    assert (transition.attribute, transition.value, transition.deltas) == ("state", "sent", {})
    assert transition.also == {"messageId": MID, "reason": "reconciled_send_event", "sentAt": AT}
    assert transition.require == Requirement("sending", no_message_id=True)
    assert not transition.mark_counted  # the processor counts it when it next handles the batch


def test_a_send_event_moves_a_counted_unknown_to_sent():
    transition = plan_send_reconciliation(_row(state="unknown", counted=True), MID, AT)

    assert transition is not None
    assert transition.value == "sent"
    assert transition.deltas == {"unknownCount": -1, "sentCount": 1}
    assert transition.require == Requirement("unknown", counted=True)


@pytest.mark.parametrize(
    "row",
    [_row(state="sent", messageId=MID, counted=True), _row(state="sending", messageId="m-0"), _row(state="failed")],
)
def test_a_send_event_leaves_settled_rows_alone(row):
    assert plan_send_reconciliation(row, MID, AT) is None


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (_row(state="sending"), Settle.WAIT),  # the bounce overtook the processor's record of the send
        (_row(state="sent", messageId=MID), Settle.ACT),
        (_row(state="sent", messageId="an-older-message"), Settle.PASS),
        (_row(state="pending"), Settle.PASS),
    ],
)
def test_soft_bounce_readiness(row, expected):
    assert soft_bounce_readiness(row, MID) is expected


def test_a_soft_bounce_of_a_counted_send_requeues_it_out_of_sent():
    transition = plan_soft_bounce(_row(state="sent", messageId=MID, counted=True, retries=1), MID, AT, budget=2)

    assert transition is not None
    assert transition.value == "pending"
    assert transition.deltas == {"softBouncedCount": 1, "sentCount": -1, "finalCount": -1}  # queued again
    assert transition.numbers == {"softBounceRetries": 2}
    assert "counted" in transition.remove
    assert transition.require == Requirement("sent", message_id=MID, counted=True)
    assert transition.also["delivery"] == "softBounced"


def test_a_soft_bounce_of_an_uncounted_send_requeues_it_without_counter_moves():
    transition = plan_soft_bounce(_row(state="sent", messageId=MID), MID, AT, budget=1)

    assert transition is not None
    assert (transition.value, transition.deltas) == ("pending", {"softBouncedCount": 1})
    assert transition.require == Requirement("sent", message_id=MID, counted=False)


def test_a_repeated_soft_bounce_is_not_counted_as_a_new_soft_bounce():
    row = _row(state="sent", messageId=MID, counted=True, retries=1, delivery="softBounced")

    transition = plan_soft_bounce(row, MID, AT, budget=2)

    assert transition is not None
    assert transition.deltas == {"sentCount": -1, "finalCount": -1}


def test_past_the_budget_a_counted_send_fails_as_soft_bounce():
    row = _row(state="sent", messageId=MID, counted=True, retries=2, delivery="softBounced")

    transition = plan_soft_bounce(row, MID, AT, budget=2)

    assert transition is not None
    assert (transition.value, transition.also["reason"]) == ("failed", "soft_bounce")
    assert transition.deltas == {"sentCount": -1, "failedCount": 1}
    assert not transition.mark_counted


def test_past_the_budget_an_uncounted_send_is_counted_failed_by_analytics():
    transition = plan_soft_bounce(_row(state="sent", messageId=MID), MID, AT, budget=0)

    assert transition is not None
    assert transition.value == "failed"
    assert transition.deltas == {"softBouncedCount": 1, "failedCount": 1, "finalCount": 1}
    assert transition.mark_counted  # the processor's own count of it then drops out


@pytest.mark.parametrize("delivery", ["delivered", "bounced", "rejected"])
def test_a_soft_bounce_after_another_outcome_is_noise(delivery):
    assert plan_soft_bounce(_row(state="sent", messageId=MID, delivery=delivery), MID, AT, budget=2) is None


def test_pending_retry_names_the_retry_a_requeued_row_waits_for():
    assert pending_retry(_row(state="pending", reason="soft_bounce_retry", retries=2)) == 2
    assert pending_retry(_row(state="pending", retries=0)) is None
    assert pending_retry(_row(state="sending", reason="soft_bounce_retry", retries=1)) is None
