"""Where an SES event settles the processor's own state of a recipient: pure plans, unit-tested.

- A Send event proves SES accepted the message. A row still `sending` without a `messageId` (the processor's claim;
  its process may have died between the SES call and recording it) or `unknown` (the processor gave up on it) is
  in fact `sent` (docs/architecture.md, "In-doubt reconciliation").
- A Transient bounce of the row's current message re-queues the recipient (`pending`, a retry job with a delay),
  at most `budget` times, then fails it with reason `soft_bounce`.

Counting rule (so `recipients = queued + sent + failed + suppressed + invalid + unknown` holds): a row's final
state is in the counters at most once, flagged by the processor's `counted`. When analytics moves a counted row,
its deltas move the recipient between counters; when it moves an uncounted row to a final state it sets `counted`
itself and adds `finalCount`; when it re-queues a row it removes `counted` and takes it out of `sentCount` and
`finalCount`, so the retry is `queued` and counted again by the processor when it ends.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from herald_analytics.events.transitions import DELIVERY_ATTRIBUTE, Requirement, Transition
from herald_common.delivery_states import LedgerState

if TYPE_CHECKING:
    from herald_analytics.events.ledger import LedgerRow

# The ledger states are the kit's (herald_common.delivery_states); each plan below is one of its ledger moves
# (reconcile_send, reconcile_unknown, soft_bounce_retry, soft_bounce_fail).
SENDING, SENT, UNKNOWN, PENDING, FAILED = (
    LedgerState.SENDING.value,
    LedgerState.SENT.value,
    LedgerState.UNKNOWN.value,
    LedgerState.PENDING.value,
    LedgerState.FAILED.value,
)
RECONCILED_REASON = "reconciled_send_event"
SOFT_BOUNCE_RETRY_REASON = "soft_bounce_retry"
SOFT_BOUNCE_REASON = "soft_bounce"
RETRIES_ATTRIBUTE = "softBounceRetries"
SOFT_BOUNCED = "softBounced"


class Settle(StrEnum):
    """What an event finds on the row before it may act on it."""

    ACT = "act"  # plan and write
    WAIT = "wait"  # the processor has not settled the row yet: retry the message later
    PASS = "pass"  # nothing of the processor's state to change


def send_readiness(row: LedgerRow) -> Settle:
    """Whether a Send event has a row to reconcile; an `unknown` not yet counted waits for the processor's count
    (it happens in the same batch handling that judged it, seconds later)."""
    state = row.values.get("state")
    if state == SENDING and "messageId" not in row.values:
        return Settle.ACT
    if state == UNKNOWN:
        return Settle.ACT if row.processor_counted else Settle.WAIT
    return Settle.PASS


def plan_send_reconciliation(row: LedgerRow, message_id: str, at: str) -> Transition | None:
    """`sending` → `sent` (the processor counts it) or counted `unknown` → `sent` (unknown -1, sent +1)."""
    state = row.values.get("state")
    also = {"messageId": message_id, "reason": RECONCILED_REASON, "sentAt": at}
    if state == SENDING and "messageId" not in row.values:
        return Transition("state", SENT, {}, also=also, require=Requirement(SENDING, no_message_id=True))
    if state == UNKNOWN and row.processor_counted:
        deltas = {"unknownCount": -1, "sentCount": 1}
        return Transition("state", SENT, deltas, also=also, require=Requirement(UNKNOWN, counted=True))
    return None


def soft_bounce_readiness(row: LedgerRow, message_id: str) -> Settle:
    """A Transient bounce acts on the row's current message; a row still `sending` (the bounce overtook the
    processor's record of the send) waits."""
    state = row.values.get("state")
    if state == SENDING:
        return Settle.WAIT
    if state == SENT and row.values.get("messageId") == message_id:
        return Settle.ACT
    return Settle.PASS


def plan_soft_bounce(row: LedgerRow, message_id: str, at: str, budget: int) -> Transition | None:
    """Re-queue (`pending`) while fewer than `budget` retries were made, else `failed (soft_bounce)`.

    None when the message was delivered or hard-bounced meanwhile (a Transient bounce after that is noise).
    """
    current = row.values.get(DELIVERY_ATTRIBUTE) or None
    if current not in (None, SOFT_BOUNCED):
        return None
    counted = row.processor_counted
    retries = row.numbers.get(RETRIES_ATTRIBUTE, 0)
    deltas: dict[str, int] = {} if current == SOFT_BOUNCED else {"softBouncedCount": 1}
    require = Requirement(SENT, message_id=message_id, counted=counted)
    if retries < budget:
        if counted:
            deltas |= {"sentCount": -1, "finalCount": -1}
        return Transition(
            "state",
            PENDING,
            deltas,
            also={DELIVERY_ATTRIBUTE: SOFT_BOUNCED, "reason": SOFT_BOUNCE_RETRY_REASON, "softBouncedAt": at},
            numbers={RETRIES_ATTRIBUTE: retries + 1},
            remove=("counted", "leaseOwner", "leaseExpiresAt"),
            require=require,
        )
    deltas |= {"sentCount": -1, "failedCount": 1} if counted else {"failedCount": 1, "finalCount": 1}
    return Transition(
        "state",
        FAILED,
        deltas,
        also={DELIVERY_ATTRIBUTE: SOFT_BOUNCED, "reason": SOFT_BOUNCE_REASON, "softBouncedAt": at},
        mark_counted=not counted,
        require=require,
    )


def soft_bounce_failed(row: LedgerRow) -> bool:
    """Whether the row ended `failed` for soft bounces past the retry budget (the webhooks' `email.failed`)."""
    return row.values.get("state") == LedgerState.FAILED and row.values.get("reason") == SOFT_BOUNCE_REASON


def pending_retry(row: LedgerRow) -> int | None:
    """The retry number a re-queued row waits for (a replay after a crash schedules it again), else None."""
    if row.values.get("state") == PENDING and row.values.get("reason") == SOFT_BOUNCE_RETRY_REASON:
        return row.numbers.get(RETRIES_ATTRIBUTE) or None
    return None
