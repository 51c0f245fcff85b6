"""The `{prefix}-ses-events` queue's batch handler and its retry policy (flow step 20)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import structlog

from herald_analytics.events.parse import EventRejected, UnattributableEvent, parse_message
from herald_analytics.events.service import EventInFlight, LedgerContention, RowNotSettled
from herald_common.metrics import SES_EVENTS
from herald_common.sqs import DeadLetter, RetryAfter, exponential_backoff

if TYPE_CHECKING:
    from collections.abc import Sequence

    from herald_analytics.events.batch import BatchIngestor
    from herald_analytics.events.schemas import SesEvent
    from herald_common.sqs import RetryAction, SqsMessage

log = structlog.get_logger("herald.analytics")


class EventObserver(Protocol):
    async def observe(self, events: Sequence[SesEvent]) -> None:
        """See a batch of parsed events (best effort)."""


class CountedEventForwarder(Protocol):
    async def forward(self, messages: Sequence[tuple[str, str]]) -> list[BaseException | None]:
        """Pass on counted messages ((tenant id, SQS body) each): one result per message, None when done with."""


def retry_policy(error: BaseException, receive_count: int) -> RetryAction:
    """Rejected events go to the dead-letter queue at once (retrying cannot fix them); an event another
    handler holds is retried by the time its lease ends; anything else (AWS errors) backs off until the queue's
    redrive policy dead-letters it."""
    if isinstance(error, EventRejected):
        return DeadLetter(f"{type(error).__name__}: {error}")
    if isinstance(error, EventInFlight):
        # Usually a concurrent duplicate that finishes in milliseconds: look again soon, then less and less often.
        # 2 + 4 + 8 + 16 s outlasts the 30 s lease within the queue's maxReceiveCount (5), so a message whose
        # holder died is reclaimed, not dead-lettered.
        return RetryAfter(min(error.retry_after, 2**receive_count))
    if isinstance(error, RowNotSettled | LedgerContention):
        # The processor settles a row within seconds (one SES call, or the end of its batch): 2 + 4 + 8 + 16 s.
        return RetryAfter(min(2**receive_count, 16))
    return RetryAfter(exponential_backoff(receive_count))


class SesEventHandler:
    """Parses a batch of SQS messages and hands their events to the ingestor together: one result per message."""

    def __init__(
        self,
        ingestor: BatchIngestor,
        observers: Sequence[EventObserver] = (),
        forwarder: CountedEventForwarder | None = None,
    ) -> None:
        self._ingestor = ingestor
        # Deliverability's own tallies (pushback.py, reputation_windows.py): they see every event before it is
        # counted, and a failure of theirs never holds the counting up.
        self._observers = observers
        # The webhooks' copy (webhook_relay.py): only once counted, and a message it could not pass on is retried.
        self._forwarder = forwarder

    async def __call__(self, messages: list[SqsMessage]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(messages)
        events: list[SesEvent] = []
        owners: list[int] = []
        for position, message in enumerate(messages):
            try:
                event = parse_message(message.body)
            except EventRejected as exc:
                kind = "unattributed" if isinstance(exc, UnattributableEvent) else "malformed"
                SES_EVENTS.labels(type=kind).inc()
                log.warning(f"analytics.event_{kind}", sqsMessageId=message.message_id, reason=str(exc))
                results[position] = exc
                continue
            if event is None:
                log.info("analytics.notification_ignored", sqsMessageId=message.message_id)
                continue
            SES_EVENTS.labels(type=event.event_type.value).inc()
            events.append(event)
            owners.append(position)
        for observer in self._observers if events else ():
            try:
                await observer.observe(events)
            except Exception as exc:
                log.warning("analytics.observer_failed", observer=type(observer).__name__, error=str(exc))
        if events:
            for position, error in zip(owners, await self._ingestor.ingest_many(events), strict=True):
                results[position] = error
        if self._forwarder is not None:
            await _forward(self._forwarder, messages, events, owners, results)
        return results


async def _forward(
    forwarder: CountedEventForwarder,
    messages: list[SqsMessage],
    events: list[SesEvent],
    owners: list[int],
    results: list[BaseException | None],
) -> None:
    """Forward the messages whose events were counted (of a campaign: a test send makes no webhook event); a failure
    becomes its message's result, so the message is retried rather than deleted."""
    counted = [
        (position, event.campaign.tenant_id)
        for position, event in zip(owners, events, strict=True)
        if results[position] is None and event.campaign is not None and not event.is_test
    ]
    if not counted:
        return
    outcomes = await forwarder.forward([(tenant, messages[position].body) for position, tenant in counted])
    for (position, _), error in zip(counted, outcomes, strict=True):
        results[position] = error
