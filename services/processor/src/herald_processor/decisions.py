"""The pure rules of batch handling: what to do with a ledger entry, a campaign status, a send result, an error."""

from __future__ import annotations

import random
from enum import StrEnum
from typing import TYPE_CHECKING

from herald_common.delivery_states import SENDABLE_STATUSES
from herald_common.sqs import DeadLetter, RetryAction, RetryAfter, exponential_backoff
from herald_processor.domain import (
    BatchDeferred,
    CampaignMissing,
    CampaignStatus,
    LedgerState,
    MalformedJob,
    SendResult,
)

if TYPE_CHECKING:
    from herald_processor.domain import LedgerEntry


class EntryAction(StrEnum):
    SEND = "send"  # unclaimed: this batch may claim it
    COUNT = "count"  # final but not in the counters yet (a crashed attempt): count it now
    SKIP = "skip"  # final and counted: nothing to do, never counted twice
    HELD = "held"  # claimed under a live lease: someone is sending it right now
    RECONCILING = "reconciling"  # lease expired lately: wait for the SES Send event to say whether it went out
    IN_DOUBT = "in_doubt"  # lease expired longer than the reconcile window ago, no event came: resend or `unknown`


def decide_entry(entry: LedgerEntry | None, now: float, reconcile_window: float = 0.0) -> EntryAction:
    """What a batch does with a recipient, given its ledger entry (None: never seen) at epoch time `now`.

    A claim whose lease ran out may or may not have reached SES: for `reconcile_window` seconds after the lease ran
    out, the analytics service may still turn it `sent` from the SES Send event (the processor then counts it); after
    that it is in doubt, and HERALD_IN_DOUBT decides (sent again, or final `unknown`). A claim without an expiry
    cannot be waited for.
    """
    if entry is None or entry.state is LedgerState.PENDING:
        return EntryAction.SEND
    if entry.state.is_final:
        return EntryAction.SKIP if entry.counted else EntryAction.COUNT
    if entry.lease_expires_at is None:
        return EntryAction.IN_DOUBT
    if entry.lease_expires_at >= now:
        return EntryAction.HELD
    if entry.lease_expires_at + reconcile_window >= now:
        return EntryAction.RECONCILING
    return EntryAction.IN_DOUBT


class Gate(StrEnum):
    PROCEED = "proceed"
    DEFER = "defer"
    CANCEL = "cancel"


def gate_for(status: CampaignStatus) -> Gate:
    """Whether a batch of a campaign in `status` sends, waits, or settles its unclaimed recipients as cancelled."""
    if status in SENDABLE_STATUSES:
        return Gate.PROCEED  # `sent`: every recipient is final already; the ledger skips them all
    if status in (CampaignStatus.CANCELLED, CampaignStatus.FAILED):
        return Gate.CANCEL
    return Gate.DEFER  # paused, or draft/scheduled while the campaign service is between two writes


def final_state_for(result: SendResult) -> LedgerState | None:
    """The ledger state a send result ends in; None when nothing was sent and the claim goes back. An unknown result
    (5xx, timeout: SES may have sent it) stays `sending` with its lease ended, in doubt like a claim whose process
    died: its SES Send event makes it `sent`, and with none within the reconcile window it becomes `unknown`."""
    return {
        SendResult.SENT: LedgerState.SENT,
        SendResult.FAILED: LedgerState.FAILED,
        SendResult.UNKNOWN: LedgerState.SENDING,
    }.get(result)


def throttled_retry_seconds(receive_count: int) -> int:
    """SES said slow down: come back after a jittered, growing pause (at least 2 s, at most 2 minutes)."""
    return max(2, exponential_backoff(receive_count + 1, base=2.0, cap=120.0))


def dependency_retry_seconds(receive_count: int) -> int:
    """A dependency (the template service) is down: come back after a full-jitter exponential backoff in whole
    seconds, growing with the receives (at least 1 s, at most 5 minutes)."""
    return exponential_backoff(receive_count, base=2.0, cap=300.0)


def throttle_backoff_seconds(in_a_row: int, *, base: float = 0.1, cap: float = 2.0) -> float:
    """Full-jitter pause before trying a throttled recipient again within the batch (AWS's "full jitter")."""
    return random.uniform(0.0, min(cap, base * 2 ** max(in_a_row - 1, 0)))


def retry_policy(error: BaseException, receive_count: int, max_receive_count: int | None = None) -> RetryAction:
    """The poller's action for a batch that raised: dead-letter what can never work, and a batch that failed on its
    last receive before the queue's `max_receive_count` (the processor moves it itself, so it is counted on its
    campaign as it goes); retry the rest later with full-jitter exponential backoff."""
    if isinstance(error, MalformedJob | CampaignMissing):
        return DeadLetter(f"{error.code}: {error.detail}")
    if isinstance(error, BatchDeferred):
        return RetryAfter(error.seconds)
    if max_receive_count is not None and receive_count >= max_receive_count:
        return DeadLetter(f"failed {receive_count} times, last: {type(error).__name__}: {str(error)[:150]}")
    return RetryAfter(exponential_backoff(receive_count))


def lease_wait_seconds(held: list[LedgerEntry], now: float, reconcile_window: float = 0.0) -> int:
    """How long until every entry of `held` can be judged again: a live lease has run out, and an expired one has
    waited out the reconcile window (pass 0 for live leases only)."""
    latest = 0.0
    for entry in held:
        expires = entry.lease_expires_at or 0
        latest = max(latest, expires + (reconcile_window if expires < now else 0.0))
    return max(1, int(latest - now) + 1)
