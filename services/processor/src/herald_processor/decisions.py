"""The pure rules of batch handling: what to do with a ledger entry, a campaign status, a send result, an error."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

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
    IN_DOUBT = "in_doubt"  # claimed, lease expired: the send may have happened → `unknown`


def decide_entry(entry: LedgerEntry | None, now: float) -> EntryAction:
    """What a batch does with a recipient, given its ledger entry (None: never seen) at epoch time `now`."""
    if entry is None or entry.state is LedgerState.PENDING:
        return EntryAction.SEND
    if entry.state.is_final:
        return EntryAction.SKIP if entry.counted else EntryAction.COUNT
    if entry.lease_expires_at is None or entry.lease_expires_at < now:
        return EntryAction.IN_DOUBT
    return EntryAction.HELD


class Gate(StrEnum):
    PROCEED = "proceed"
    DEFER = "defer"
    CANCEL = "cancel"


def gate_for(status: CampaignStatus) -> Gate:
    """Whether a batch of a campaign in `status` sends, waits, or settles its unclaimed recipients as cancelled."""
    if status in (CampaignStatus.SENDING, CampaignStatus.SENT):
        return Gate.PROCEED  # `sent`: every recipient is final already; the ledger skips them all
    if status in (CampaignStatus.CANCELLED, CampaignStatus.FAILED):
        return Gate.CANCEL
    return Gate.DEFER  # paused, or draft/scheduled while the campaign service is between two writes


def final_state_for(result: SendResult) -> LedgerState | None:
    """The ledger state a send result ends in; None when nothing was sent and the claim goes back."""
    return {
        SendResult.SENT: LedgerState.SENT,
        SendResult.FAILED: LedgerState.FAILED,
        SendResult.UNKNOWN: LedgerState.UNKNOWN,
    }.get(result)


def throttled_retry_seconds(receive_count: int) -> int:
    """SES said slow down: come back after a jittered, growing pause (at least 2 s, at most 2 minutes)."""
    return max(2, exponential_backoff(receive_count + 1, base=2.0, cap=120.0))


def retry_policy(error: BaseException, receive_count: int) -> RetryAction:
    """The poller's action for a batch that raised: dead-letter what can never work, retry the rest later."""
    if isinstance(error, MalformedJob | CampaignMissing):
        return DeadLetter(f"{error.code}: {error.detail}")
    if isinstance(error, BatchDeferred):
        return RetryAfter(error.seconds)
    return RetryAfter(exponential_backoff(receive_count))


def lease_wait_seconds(held: list[LedgerEntry], now: float) -> int:
    """How long until every live lease among `held` has run out (so the batch can judge them again)."""
    latest = max((e.lease_expires_at or 0 for e in held), default=0)
    return max(1, int(latest - now) + 1)
