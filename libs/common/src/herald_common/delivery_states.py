"""The two delivery state machines Herald's services share: a campaign's `status` and a recipient's ledger `state`.

Three services write them (campaign status: campaign, processor, analytics; ledger state: processor, analytics and
the campaign service's retry-failed), so the states, every allowed move and the DynamoDB condition that enforces
each move live here once. A service names the move it makes (`CAMPAIGN_MOVES["pause"]`) and uses its condition;
it never declares its own copy of a state. docs/architecture.md draws both machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


class LedgerState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (LedgerState.PENDING, LedgerState.SENDING)

    @property
    def counter(self) -> str:
        """The campaign attribute this final state is counted in (`sentCount`, …)."""
        return f"{self.value}Count"


FINAL_STATES = tuple(s for s in LedgerState if s.is_final)

S = TypeVar("S", CampaignStatus, LedgerState)


@dataclass(frozen=True)
class Move(Generic[S]):
    """One named move of a state machine: from any of `source` to `target`, only while `guard` (a DynamoDB condition
    on other attributes of the item, "" for none) holds too."""

    name: str
    source: frozenset[S]
    target: S
    guard: str = ""

    def allows(self, current: S) -> bool:
        return current in self.source

    def condition(self, attribute: str = "#s") -> tuple[str, dict[str, Any]]:
        """The ConditionExpression (with its values, named `:<move>_from<i>`) that makes a write this move: the state
        attribute (`attribute`, an expression name) is one of `source`, and the guard holds."""
        check, values = state_in(self.source, prefix=f"{self.name}_from", attribute=attribute)
        return (f"({check}) AND ({self.guard})" if self.guard else check), values

    def target_value(self) -> dict[str, str]:
        return {"S": self.target.value}


def state_in(states: Iterable[StrEnum], *, prefix: str, attribute: str = "#s") -> tuple[str, dict[str, Any]]:
    """`#s = :p0` or `#s IN (:p0, :p1, …)` with its values: the state attribute is one of `states`."""
    values = {f":{prefix}{i}": {"S": s.value} for i, s in enumerate(sorted(states))}
    names = list(values)
    return (f"{attribute} = {names[0]}" if len(names) == 1 else f"{attribute} IN ({', '.join(names)})"), values


C, L = CampaignStatus, LedgerState

# Campaign statuses under which a batch sends (in a `sent` campaign every recipient is final, or it is being
# reopened); under any other a running batch stops starting SES calls.
SENDABLE_STATUSES = frozenset({C.SENDING, C.SENT})


def _moves(*moves: Move[S]) -> dict[str, Move[S]]:
    return {m.name: m for m in moves}


CAMPAIGN_MOVES: dict[str, Move[CampaignStatus]] = _moves(
    Move("send", frozenset({C.DRAFT}), C.SENDING, "recipientCount > :zero"),
    Move("schedule", frozenset({C.DRAFT}), C.SCHEDULED, "recipientCount > :zero"),
    Move("start", frozenset({C.SCHEDULED}), C.SENDING, "sendAt = :send_at"),  # the scheduler starts a due one
    Move("pause", frozenset({C.SENDING}), C.PAUSED),
    Move("resume", frozenset({C.PAUSED}), C.SENDING),
    # The processor resumes only its own pause for the SES daily quota, once due; a user's pause stays.
    Move(
        "resume_after_quota",
        frozenset({C.PAUSED}),
        C.SENDING,
        "begins_with(statusReason, :quota) AND quotaResumeAt <= :epoch",
    ),
    Move("cancel", frozenset({C.DRAFT, C.SCHEDULED, C.SENDING, C.PAUSED}), C.CANCELLED),
    Move("complete", frozenset({C.SENDING}), C.SENT, "finalCount >= recipientCount"),
    # A recipient queued again (retry-failed, a soft-bounce retry) makes a finished campaign send again.
    Move("reopen", frozenset({C.SENT}), C.SENDING, "finalCount < recipientCount"),
    Move("fail", frozenset({C.SENDING, C.PAUSED}), C.FAILED),  # the fan-out could not queue its batches
)

LEDGER_MOVES: dict[str, Move[LedgerState]] = _moves(
    # `pending` or no row yet (the processor creates the row with its claim).
    Move("claim", frozenset({L.PENDING}), L.SENDING),
    # In doubt (`sending`, lease over, no SES event within the reconcile window) and HERALD_IN_DOUBT=resend.
    Move(
        "reclaim_in_doubt",
        frozenset({L.SENDING}),
        L.SENDING,
        "leaseExpiresAt < :cutoff AND attribute_not_exists(messageId)",
    ),
    Move("release", frozenset({L.SENDING}), L.PENDING, "leaseOwner = :owner"),  # SES sent nothing
    Move("end_lease", frozenset({L.SENDING}), L.SENDING, "leaseOwner = :owner"),  # SES may have sent it
    Move("mark_sent", frozenset({L.SENDING}), L.SENT, "leaseOwner = :owner"),
    Move("mark_failed", frozenset({L.SENDING}), L.FAILED, "leaseOwner = :owner"),
    # In doubt and HERALD_IN_DOUBT=hold (or its resends used up): final `unknown`, never sent again.
    Move("give_up", frozenset({L.SENDING}), L.UNKNOWN, "leaseExpiresAt < :cutoff"),
    Move("invalid", frozenset({L.PENDING}), L.INVALID),
    Move("suppress", frozenset({L.PENDING}), L.SUPPRESSED),
    Move("cancel", frozenset({L.PENDING}), L.CANCELLED),
    Move("fail_unsent", frozenset({L.PENDING}), L.FAILED),  # template missing, render error: nothing sent
    # Analytics, from SES events: a Send event proves the send; a Transient bounce re-queues or fails it.
    Move("reconcile_send", frozenset({L.SENDING}), L.SENT, "attribute_not_exists(messageId)"),
    Move("reconcile_unknown", frozenset({L.UNKNOWN}), L.SENT, "counted = :rtrue"),
    Move("soft_bounce_retry", frozenset({L.SENT}), L.PENDING),
    Move("soft_bounce_fail", frozenset({L.SENT}), L.FAILED),
    Move("retry_failed", frozenset({L.FAILED}), L.PENDING),  # the campaign service's retry-failed
)

CAMPAIGN_TRANSITIONS = frozenset((s, m.target) for m in CAMPAIGN_MOVES.values() for s in m.source)
LEDGER_TRANSITIONS = frozenset((s, m.target) for m in LEDGER_MOVES.values() for s in m.source)


def campaign_move(name: str) -> Move[CampaignStatus]:
    return CAMPAIGN_MOVES[name]


def ledger_move(name: str) -> Move[LedgerState]:
    return LEDGER_MOVES[name]


def finalize_move(state: LedgerState) -> Move[LedgerState]:
    """The move that gives an unclaimed recipient the final `state` without sending."""
    for move in LEDGER_MOVES.values():
        if state.is_final and move.source == {L.PENDING} and move.target is state:
            return move
    raise ValueError(f"no move gives an unclaimed recipient the state {state.value}")
