"""The campaign's pure rules: transitions, send refusals, send planning, batching, SQS grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald_campaign.campaigns import errors
from herald_campaign.campaigns.models import CampaignStatus as S
from herald_campaign.campaigns.rules import (
    CampaignAction,
    abatched,
    batch_id,
    batched,
    check_sendable,
    check_throttle,
    parse_send_at,
    plan_send,
    transition_target,
)

NOW = datetime(2030, 1, 15, 10, 30, tzinfo=UTC)

ALLOWED = {
    (CampaignAction.PAUSE, S.SENDING): S.PAUSED,
    (CampaignAction.RESUME, S.PAUSED): S.SENDING,
    (CampaignAction.CANCEL, S.DRAFT): S.CANCELLED,
    (CampaignAction.CANCEL, S.SCHEDULED): S.CANCELLED,
    (CampaignAction.CANCEL, S.SENDING): S.CANCELLED,
    (CampaignAction.CANCEL, S.PAUSED): S.CANCELLED,
}


@pytest.mark.parametrize("action", list(CampaignAction))
@pytest.mark.parametrize("status", list(S))
def test_transitions_follow_the_spec(action: CampaignAction, status: S) -> None:
    expected = ALLOWED.get((action, status))
    if expected is None:
        with pytest.raises(errors.InvalidTransition):
            transition_target(action, status)
    else:
        assert transition_target(action, status) is expected


@pytest.mark.parametrize(
    ("status", "count", "error"),
    [
        (S.SENT, 5, errors.CampaignAlreadySent),
        (S.SENDING, 5, errors.CampaignAlreadySending),
        (S.PAUSED, 5, errors.CampaignAlreadySending),
        (S.SCHEDULED, 5, errors.CampaignAlreadyScheduled),
        (S.CANCELLED, 5, errors.CampaignNotSendable),
        (S.FAILED, 5, errors.CampaignNotSendable),
        (S.DRAFT, 0, errors.NoRecipients),
    ],
)
def test_send_refusals(status: S, count: int, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        check_sendable(status, count)
    expected_status = 409 if status in (S.SENT, S.SENDING, S.PAUSED, S.SCHEDULED) else 400
    assert caught.value.status_code == expected_status  # type: ignore[attr-defined]


def test_a_draft_with_recipients_is_sendable() -> None:
    check_sendable(S.DRAFT, 1)


def test_send_at_parsing() -> None:
    assert parse_send_at("immediate", NOW) is None
    assert parse_send_at(" Immediate ", NOW) is None
    assert parse_send_at("2030-01-15T12:00:00Z", NOW) == datetime(2030, 1, 15, 12, tzinfo=UTC)
    assert parse_send_at("2030-01-15T13:00:00+01:00", NOW) == datetime(2030, 1, 15, 12, tzinfo=UTC)
    # A few seconds in the past is clock skew, not a mistake.
    assert parse_send_at((NOW - timedelta(seconds=5)).isoformat(), NOW) is not None
    for bad in ("2030-01-15T12:00:00", "tomorrow", "2020-01-01T00:00:00Z", ""):
        with pytest.raises(ValueError, match="sendAt"):
            parse_send_at(bad, NOW)


def test_send_plan() -> None:
    assert plan_send(None, NOW).status is S.SENDING
    assert plan_send(NOW - timedelta(seconds=5), NOW).status is S.SENDING
    later = NOW + timedelta(hours=1)
    plan = plan_send(later, NOW)
    assert (plan.status, plan.send_at) == (S.SCHEDULED, later)


def test_throttle_consistency() -> None:
    check_throttle(100, 1000)
    check_throttle(None, 10)
    check_throttle(10, None)
    with pytest.raises(ValueError, match="emailsPerHour"):
        check_throttle(100, 99)


def test_batch_ids_are_positions() -> None:
    assert batch_id(1) == "batch_000001"
    assert batch_id(123456) == "batch_123456"


def test_batched_covers_every_item_once_in_order() -> None:
    batches = list(batched(range(120), 50))
    assert [(p, len(b)) for p, b in batches] == [(1, 50), (2, 50), (3, 20)]
    assert [x for _, b in batches for x in b] == list(range(120))
    assert list(batched([], 50)) == []
    assert [p for p, _ in batched(range(100), 50)] == [1, 2]
    with pytest.raises(ValueError, match="positive"):
        list(batched(range(3), 0))


async def test_abatched_matches_batched() -> None:
    async def stream():  # type: ignore[no-untyped-def]
        for i in range(101):
            yield i

    result = [(p, b) async for p, b in abatched(stream(), 10)]
    assert result == list(batched(range(101), 10))
