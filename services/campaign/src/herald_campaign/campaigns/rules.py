"""The campaign's rules as pure functions: which transitions are allowed, when a send is refused, how recipients
are cut into batches. No I/O here, so every rule is unit-tested without a network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from herald_campaign.campaigns.errors import (
    CampaignAlreadyScheduled,
    CampaignAlreadySending,
    CampaignAlreadySent,
    CampaignNotSendable,
    InvalidTransition,
    NoRecipients,
)
from herald_campaign.campaigns.models import CampaignStatus
from herald_common.delivery_states import campaign_move

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

T = TypeVar("T")

S = CampaignStatus

# A sendAt this little in the past is "now" (client clocks and network delay); further back it is a mistake.
SEND_AT_GRACE = timedelta(seconds=60)


class CampaignAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


# action -> (statuses it applies to, status it leads to), the kit's moves of the same name. SPEC: sending ⇄ paused;
# draft|scheduled|sending|paused → cancelled.
TRANSITIONS: dict[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    action: (campaign_move(action.value).source, campaign_move(action.value).target) for action in CampaignAction
}


def transition_target(action: CampaignAction, current: CampaignStatus) -> CampaignStatus:
    """The status `action` leads to from `current`; InvalidTransition (409) where it is not allowed."""
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        raise InvalidTransition(f"A {current.value} campaign cannot be {_past(action)}.")
    return target


def _past(action: CampaignAction) -> str:
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action.value]


def check_sendable(status: CampaignStatus, recipient_count: int) -> None:
    """Refuse a send as the flow document says: already sent, sending or scheduled 409; cannot be sent 400."""
    if status is S.SENT:
        raise CampaignAlreadySent("This campaign has already been sent.")
    if status in (S.SENDING, S.PAUSED):
        raise CampaignAlreadySending(f"This campaign is already being sent (status {status.value}).")
    if status is S.SCHEDULED:
        raise CampaignAlreadyScheduled("This campaign is already scheduled; cancel it to change the schedule.")
    if status is not S.DRAFT:
        raise CampaignNotSendable(f"A {status.value} campaign cannot be sent.")
    if recipient_count <= 0:
        raise NoRecipients("This campaign has no valid recipients; add some before sending.")


@dataclass(frozen=True)
class SendPlan:
    status: CampaignStatus  # sending (now) or scheduled (later)
    send_at: datetime


def parse_send_at(value: str, now: datetime) -> datetime | None:
    """None for "immediate"; otherwise the aware UTC time. ValueError for garbage, a naive time or the past."""
    if value.strip().lower() == "immediate":
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as exc:
        raise ValueError('sendAt must be "immediate" or an ISO-8601 time') from exc
    if moment.tzinfo is None:
        raise ValueError("sendAt needs a UTC offset (for example 2030-01-15T10:30:00Z)")
    if moment < now - SEND_AT_GRACE:
        raise ValueError("sendAt is in the past")
    return moment.astimezone(UTC)


def plan_send(send_at: datetime | None, now: datetime) -> SendPlan:
    """Send now, or schedule when `send_at` is still in the future."""
    if send_at is None or send_at <= now:
        return SendPlan(S.SENDING, now)
    return SendPlan(S.SCHEDULED, send_at)


def check_throttle(per_minute: int | None, per_hour: int | None) -> None:
    """ValueError for a throttle that contradicts itself (positivity is the schema's job)."""
    if per_minute is not None and per_hour is not None and per_hour < per_minute:
        raise ValueError("emailsPerHour cannot be lower than emailsPerMinute")


def batch_id(position: int) -> str:
    """The deterministic id of the batch at 1-based `position` in the campaign's recipient list."""
    return f"batch_{position:06d}"


def batched(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T]]]:
    """(1-based position, batch) for consecutive batches of at most `size` items."""
    if size < 1:
        raise ValueError("batch size must be positive")
    batch: list[T] = []
    position = 0
    for item in items:
        batch.append(item)
        if len(batch) == size:
            position += 1
            yield position, batch
            batch = []
    if batch:
        yield position + 1, batch


async def abatched(items: AsyncIterable[T], size: int) -> AsyncIterator[tuple[int, list[T]]]:
    """`batched` for an asynchronous stream (recipients read from S3)."""
    if size < 1:
        raise ValueError("batch size must be positive")
    batch: list[T] = []
    position = 0
    async for item in items:
        batch.append(item)
        if len(batch) == size:
            position += 1
            yield position, batch
            batch = []
    if batch:
        yield position + 1, batch


# Ledger `failed` reasons worth another attempt: the template or its rendering was at fault (fixable, then
# retried), SES throttled or paused sending, or the message soft-bounced. Everything else that is `failed` (SES
# `MessageRejected`, an unverified sender, a header that would be injected…) fails again the same way; bounced,
# complained, suppressed and invalid recipients are never retried. A reason is compared by its code: the part
# before the first ':' ("Throttling: Rate exceeded" → "Throttling").
RETRYABLE_REASONS = frozenset(
    {
        "render_error",
        "template_not_found",
        "soft_bounce",
        "softBounced",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceeded",
        "LimitExceededException",
        "SendingPausedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServiceError",
    }
)
# Only these campaigns may have failed recipients re-queued (the processor sends `sending` and `sent` batches and
# holds `paused` ones until resume).
RETRYABLE_STATUSES = frozenset({S.SENDING, S.PAUSED, S.SENT})


def is_retryable_failure(reason: str | None) -> bool:
    """Whether a recipient that ended `failed` for `reason` is re-queued by retry-failed. Unknown reasons are not."""
    if not reason:
        return False
    return reason.split(":", 1)[0].strip() in RETRYABLE_REASONS


def retry_batch_id(call: int, position: int) -> str:
    """The deterministic id of the `position`-th batch of the `call`-th retry-failed call of a campaign."""
    return f"retry_{call}_{position:06d}"
