"""The kit's state machines: the conditions a move writes, and the moves a final state may be reached by."""

from __future__ import annotations

import pytest

from herald_common.delivery_states import (
    CAMPAIGN_MOVES,
    LEDGER_TRANSITIONS,
    CampaignStatus,
    LedgerState,
    finalize_move,
    ledger_move,
    state_in,
)


def test_a_one_source_move_checks_equality_and_its_guard() -> None:
    condition, values = CAMPAIGN_MOVES["complete"].condition()
    assert condition == "(#s = :complete_from0) AND (finalCount >= recipientCount)"
    assert values == {":complete_from0": {"S": "sending"}}


def test_a_many_source_move_checks_membership() -> None:
    condition, values = CAMPAIGN_MOVES["cancel"].condition(attribute="#status")
    assert condition == "#status IN (:cancel_from0, :cancel_from1, :cancel_from2, :cancel_from3)"
    assert {v["S"] for v in values.values()} == {"draft", "scheduled", "sending", "paused"}


def test_state_in_names_its_values_by_prefix() -> None:
    assert state_in([CampaignStatus.SENT], prefix="x") == ("#s = :x0", {":x0": {"S": "sent"}})


@pytest.mark.parametrize(
    "state", [s for s in LedgerState if s.is_final and s not in (LedgerState.SENT, LedgerState.UNKNOWN)]
)
def test_every_final_state_but_sent_and_unknown_can_be_given_without_sending(state: LedgerState) -> None:
    move = finalize_move(state)
    assert (move.source, move.target) == (frozenset({LedgerState.PENDING}), state)


@pytest.mark.parametrize("state", [LedgerState.SENT, LedgerState.UNKNOWN, LedgerState.SENDING, LedgerState.PENDING])
def test_no_move_gives_these_without_sending(state: LedgerState) -> None:
    with pytest.raises(ValueError, match=state.value):
        finalize_move(state)


def test_an_unknown_recipient_is_only_ever_reached_from_sending() -> None:
    assert {source for source, target in LEDGER_TRANSITIONS if target is LedgerState.UNKNOWN} == {LedgerState.SENDING}
    assert ledger_move("give_up").target is LedgerState.UNKNOWN
