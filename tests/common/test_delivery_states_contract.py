"""The contract of the delivery state machines (herald_common.delivery_states): every transition each service makes
is one the kit's table allows, and every move of the table is made by some service.

The campaign-status writers run against the emulator from every status: the statuses a write moves from, and the one
it moves to, must be exactly its move's; so a condition edited in one service without the table fails here.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from herald_analytics.events.ledger import LedgerRow
from herald_analytics.events.repository import CampaignCounters
from herald_analytics.events.resends import plan_send_reconciliation, plan_soft_bounce
from herald_analytics.events.schemas import CampaignRef
from herald_analytics.recipients.schemas import RecipientState
from herald_campaign.campaigns.repository import DynamoCampaignStore as CampaignServiceStore
from herald_campaign.campaigns.rules import TRANSITIONS
from herald_common.delivery_states import (
    CAMPAIGN_MOVES,
    CAMPAIGN_TRANSITIONS,
    LEDGER_MOVES,
    LEDGER_TRANSITIONS,
    CampaignStatus,
    LedgerState,
)
from herald_processor.decisions import final_state_for
from herald_processor.domain import QUOTA_PAUSE_REASON, SendResult
from herald_processor.repository import DynamoCampaignStore as ProcessorStore

# Every move each service makes, by the kit's names (the campaign's status, then the recipient's ledger state).
PERFORMED: dict[str, tuple[set[str], set[str]]] = {
    "campaign": (
        {"send", "schedule", "start", "pause", "resume", "cancel", "reopen", "fail"},
        {"retry_failed"},
    ),
    "processor": (
        {"complete", "pause", "resume_after_quota"},
        {
            "claim",
            "reclaim_in_doubt",
            "release",
            "end_lease",
            "mark_sent",
            "mark_failed",
            "give_up",
            "invalid",
            "suppress",
            "cancel",
            "fail_unsent",
        },
    ),
    "analytics": (
        {"pause", "complete", "reopen"},
        {"reconcile_send", "reconcile_unknown", "soft_bounce_retry", "soft_bounce_fail"},
    ),
}


def test_every_move_a_service_makes_is_in_the_table_and_every_move_is_made() -> None:
    campaign_moves = set().union(*(c for c, _ in PERFORMED.values()))
    ledger_moves = set().union(*(ledger for _, ledger in PERFORMED.values()))
    assert campaign_moves == set(CAMPAIGN_MOVES)
    assert ledger_moves == set(LEDGER_MOVES)


def test_the_campaign_services_actions_are_the_tables_moves() -> None:
    for action, (allowed, target) in TRANSITIONS.items():
        move = CAMPAIGN_MOVES[action.value]
        assert (allowed, target) == (move.source, move.target)
        assert {(s, target) for s in allowed} <= CAMPAIGN_TRANSITIONS


def test_the_processors_send_outcomes_are_ledger_moves_from_sending() -> None:
    for result in SendResult:
        state = final_state_for(result)
        after = LedgerState.PENDING if state is None else state  # nothing sent: the claim goes back
        assert (LedgerState.SENDING, after) in LEDGER_TRANSITIONS, result


def test_the_recipients_filter_offers_every_ledger_state_by_its_value() -> None:
    # The filter of GET /campaigns/{id}/recipients adds delivery outcomes and engagement flags to the ledger states.
    assert {s.value for s in LedgerState} <= {r.value for r in RecipientState}
    assert {s.name for s in LedgerState} <= {r.name for r in RecipientState}


def _row(state: str, **values: str) -> LedgerRow:
    return LedgerRow(values={"state": state, **values}, version=0, counted={}, processor_counted=True)


def test_analytics_plans_are_ledger_moves() -> None:
    plans = [
        (LedgerState.SENDING, plan_send_reconciliation(_row("sending"), "m-1", "2026-01-01T00:00:00.000Z")),
        (LedgerState.UNKNOWN, plan_send_reconciliation(_row("unknown"), "m-1", "2026-01-01T00:00:00.000Z")),
        (LedgerState.SENT, plan_soft_bounce(_row("sent", messageId="m-1"), "m-1", "2026-01-01T00:00:00Z", budget=1)),
        (LedgerState.SENT, plan_soft_bounce(_row("sent", messageId="m-1"), "m-1", "2026-01-01T00:00:00Z", budget=0)),
    ]
    for source, plan in plans:
        assert plan is not None
        assert plan.require is not None
        assert plan.require.state == source.value
        assert (source, LedgerState(plan.value)) in LEDGER_TRANSITIONS


Writer = Callable[[Any, str, str], Awaitable[bool]]
NOW = "2026-01-01T00:00:00.000Z"

# (service, kit move, the write, what the item needs for the move's guard to hold)
CAMPAIGN_WRITERS: list[tuple[str, str, Writer, dict[str, Any]]] = [
    ("processor", "complete", lambda s, t, c: s["processor"].complete_if_done(t, c), {"finalCount": 1}),
    ("processor", "pause", lambda s, t, c: s["processor"].pause(t, c, "why"), {}),
    (
        "processor",
        "resume_after_quota",
        lambda s, t, c: s["processor"].resume_after_quota(t, c, 2_000_000_000),
        {"statusReason": QUOTA_PAUSE_REASON, "quotaResumeAt": 1},
    ),
    ("analytics", "pause", lambda s, t, c: s["analytics"].pause(CampaignRef(t, c), "why", NOW), {}),
    (
        "analytics",
        "complete",
        lambda s, t, c: s["analytics"].complete_if_done(CampaignRef(t, c), NOW),
        {"finalCount": 1},
    ),
    ("analytics", "reopen", lambda s, t, c: s["analytics"].reopen(CampaignRef(t, c), NOW), {"finalCount": 0}),
    ("campaign", "reopen", lambda s, t, c: s["campaign"].reopen(t, c, NOW), {"finalCount": 0}),
]


def _attribute(value: Any) -> dict[str, Any]:
    return {"N": str(value)} if isinstance(value, int) else {"S": str(value)}


@pytest.mark.parametrize(("service", "name", "write", "guard"), CAMPAIGN_WRITERS, ids=lambda v: str(v)[:20])
async def test_a_campaign_status_write_moves_exactly_as_its_move_says(
    aws: Any, herald_settings: Any, service: str, name: str, write: Writer, guard: dict[str, Any]
) -> None:
    db, table = aws.require_dynamodb(), herald_settings.resources.campaigns_table
    stores = {
        "processor": ProcessorStore(db, table),
        "analytics": CampaignCounters(db, table),
        "campaign": CampaignServiceStore(db, table),
    }
    assert name in PERFORMED[service][0]
    move = CAMPAIGN_MOVES[name]
    moved: set[tuple[CampaignStatus, CampaignStatus]] = set()
    for status in CampaignStatus:
        campaign_id = "camp_" + secrets.token_hex(10)
        item = {"tenantId": "acme", "campaignId": campaign_id, "status": status.value, "recipientCount": 1} | guard
        await db.put_item(TableName=table, Item={k: _attribute(v) for k, v in item.items()})
        done = await write(stores, "acme", campaign_id)
        after = await db.get_item(TableName=table, Key={"tenantId": {"S": "acme"}, "campaignId": {"S": campaign_id}})
        now = CampaignStatus(after["Item"]["status"]["S"])
        assert done == (status in move.source), (service, name, status)
        if done:
            moved.add((status, now))
        else:
            assert now is status
    assert moved == {(s, move.target) for s in move.source}
    assert moved <= CAMPAIGN_TRANSITIONS
