"""The SES-events retry policy: what is dead-lettered at once, what waits, what backs off."""

from __future__ import annotations

from herald_analytics.events.consumer import retry_policy
from herald_analytics.events.parse import MalformedEvent, UnattributableEvent
from herald_analytics.events.service import EventInFlight, RowNotSettled
from herald_common.sqs import DeadLetter, RetryAfter


def test_rejected_events_are_dead_lettered_at_once():
    assert isinstance(retry_policy(MalformedEvent("not JSON"), 1), DeadLetter)
    action = retry_policy(UnattributableEvent("no tenant"), 1)
    assert isinstance(action, DeadLetter)
    assert "UnattributableEvent" in action.reason


def test_an_event_held_elsewhere_is_retried_soon_then_by_the_end_of_its_lease():
    assert retry_policy(EventInFlight("e", 25), 1) == RetryAfter(2)
    assert retry_policy(EventInFlight("e", 25), 4) == RetryAfter(16)
    assert retry_policy(EventInFlight("e", 3), 4) == RetryAfter(3)


def test_other_errors_back_off_and_leave_dead_lettering_to_the_redrive_policy():
    action = retry_policy(RuntimeError("dynamodb unavailable"), 3)
    assert isinstance(action, RetryAfter)
    assert 1 <= action.seconds <= 8


def test_a_row_the_processor_has_not_settled_is_looked_at_again_within_seconds():
    assert retry_policy(RowNotSettled("sending"), 1) == RetryAfter(2)
    assert retry_policy(RowNotSettled("sending"), 4) == RetryAfter(16)
    assert retry_policy(RowNotSettled("sending"), 9) == RetryAfter(16)
