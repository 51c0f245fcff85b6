"""Counting each SES event once per recipient (flow step 21), suppressing, and announcing what changed (step 22).

Why the writes happen in this order (no DynamoDB transaction: the campaign item is hot — every event of a
campaign and every processor batch update it — and a transaction on a hot item fails with TransactionConflict
instead of queueing, besides costing double):

1. claim the event in `{prefix}-events` (conditional put with a lease). A `done` item means a duplicate: nothing
   changes. A live lease means another handler has it: retry later, never delete (it might crash).
2. suppress (hard bounce, complaint): idempotent, so a redelivery may repeat it.
3. the ledger transition, conditional on the row as read (optimistic `analyticsVersion`), storing the event id and
   its counter deltas in `countedEvents` in the same write. The ledger is the idempotency key of the counting:
   two different events cannot both move a row the same way, so each recipient is counted once per outcome.
4. ADD the deltas to the campaign counters (`attribute_exists(campaignId)`: unknown campaigns create nothing).
5. mark the event `done` — last, so a crash anywhere before leaves it claimable again once the lease runs out.

A redelivery after a crash between 3 and 4 finds its own event id in `countedEvents` and finishes step 4 with the
deltas stored there, so no count is lost. The one window left is a crash between 4 and 5 (two consecutive writes),
where the redelivery adds the deltas a second time; closing it would need a transaction on the hot item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import structlog

from herald_analytics.events.repository import Claim, ClaimState
from herald_analytics.events.schemas import Effect
from herald_analytics.events.transitions import plan_transition

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_analytics.events.repository import LedgerRow
    from herald_analytics.events.schemas import CampaignRef, SesEvent, SuppressionReason
    from herald_analytics.events.transitions import Transition

log = structlog.get_logger("herald.analytics")

# Concurrent events for one recipient (Delivery and Open together) race on the row's version; a few re-reads
# settle it, and past that SQS redelivers the message later.
MAX_LEDGER_ATTEMPTS = 5


class Outcome(StrEnum):
    COUNTED = "counted"
    RECORDED = "recorded"  # an event with nothing to count (Send, RenderingFailure, Subscription)
    STALE = "stale"  # valid, but changes nothing (Delivery after Bounce, second Open)
    DUPLICATE = "duplicate"
    UNKNOWN_RECIPIENT = "unknownRecipient"
    UNKNOWN_CAMPAIGN = "unknownCampaign"
    TEST = "test"


class EventInFlight(Exception):
    """Another handler holds the event's lease: try again after `retry_after` seconds."""

    def __init__(self, event_id: str, retry_after: int) -> None:
        super().__init__(f"event {event_id} is being processed elsewhere")
        self.retry_after = retry_after


class LedgerContention(Exception):
    """The ledger row kept changing under us; the message is retried later."""


class EventLogPort(Protocol):
    async def claim(self, event_id: str, now: int) -> Claim: ...
    async def complete(self, event_id: str) -> None: ...


class LedgerPort(Protocol):
    async def read(self, ref: CampaignRef, email: str) -> LedgerRow | None: ...
    async def apply(
        self, ref: CampaignRef, email: str, row: LedgerRow, transition: Transition, event_id: str
    ) -> bool: ...


class CountersPort(Protocol):
    async def add(self, ref: CampaignRef, deltas: dict[str, int], now_iso: str) -> bool: ...


class SuppressionsPort(Protocol):
    async def add(
        self, tenant_id: str, email: str, reason: SuppressionReason, campaign_id: str, now_iso: str
    ) -> bool: ...


class UpdatesPort(Protocol):
    def touched(self, ref: CampaignRef) -> None:
        """A campaign's counters changed: announce it (coalesced)."""


@dataclass
class EventIngestor:
    """Applies one parsed SES event to the ledger, the counters and the suppression list."""

    events: EventLogPort
    ledger: LedgerPort
    counters: CountersPort
    suppressions: SuppressionsPort
    updates: UpdatesPort
    clock: Callable[[], float] = time.time

    async def ingest(self, event: SesEvent) -> list[Outcome]:
        """One outcome per recipient of the event."""
        if event.is_test or event.campaign is None:
            # Test sends are left out of statistics and suppressions; the metric still counts them.
            log.info("analytics.event_test_ignored", eventType=event.event_type.value, messageId=event.message_id)
            return [Outcome.TEST for _ in event.recipients]
        return [await self._ingest_one(event, event.campaign, email) for email in event.recipients]

    async def _ingest_one(self, event: SesEvent, ref: CampaignRef, email: str) -> Outcome:
        event_id = event.event_id(email)
        context = {
            "tenantId": ref.tenant_id,
            "campaignId": ref.campaign_id,
            "eventType": event.event_type.value,
            "messageId": event.message_id,
            "eventId": event_id[:16],
        }
        now = int(self.clock())
        if event.effect is Effect.NONE:
            # Nothing to count, so nothing to deduplicate: a write here would only cost the table a call per email.
            log.debug("analytics.event_recorded", **context)
            return Outcome.RECORDED

        claim = await self.events.claim(event_id, now)
        if claim.state is ClaimState.DONE:
            log.info("analytics.event_duplicate", **context)
            return Outcome.DUPLICATE
        if claim.state is ClaimState.IN_FLIGHT:
            raise EventInFlight(event_id, claim.retry_after)

        now_iso = self._now_iso()
        reason = event.suppression_reason
        if reason is not None and await self.suppressions.add(ref.tenant_id, email, reason, ref.campaign_id, now_iso):
            log.info("analytics.suppressed", reason=reason.value, **context)

        outcome = await self._count(event, ref, email, event_id, now_iso, context)
        await self.events.complete(event_id)
        return outcome

    async def _count(
        self, event: SesEvent, ref: CampaignRef, email: str, event_id: str, now_iso: str, context: dict[str, str]
    ) -> Outcome:
        deltas = await self._transition(event, ref, email, event_id)
        if deltas is None:
            return Outcome.UNKNOWN_RECIPIENT
        if not deltas:
            log.info("analytics.event_stale", effect=event.effect.value, **context)
            return Outcome.STALE
        if not await self.counters.add(ref, deltas, now_iso):
            log.warning("analytics.event_unknown_campaign", **context)
            return Outcome.UNKNOWN_CAMPAIGN
        self.updates.touched(ref)
        log.info("analytics.event_counted", effect=event.effect.value, deltas=deltas, **context)
        return Outcome.COUNTED

    async def _transition(self, event: SesEvent, ref: CampaignRef, email: str, event_id: str) -> dict[str, int] | None:
        """The counter deltas this event owes: {} when it changes nothing, None when the recipient is unknown."""
        timestamp = event.timestamp or self._now_iso()
        for _ in range(MAX_LEDGER_ATTEMPTS):
            row = await self.ledger.read(ref, email)
            if row is None:
                # Not one of the campaign's claimed recipients (or the campaign is unknown): nothing to count.
                log.warning(
                    "analytics.event_unknown_recipient",
                    tenantId=ref.tenant_id,
                    campaignId=ref.campaign_id,
                    eventType=event.event_type.value,
                    messageId=event.message_id,
                )
                return None
            if event_id in row.counted:
                return row.counted[event_id]  # a crashed attempt moved the row: finish its count
            transition = plan_transition(row.values, event.effect, timestamp)
            if transition is None:
                return {}
            if await self.ledger.apply(ref, email, row, transition, event_id):
                return transition.deltas
        raise LedgerContention(f"ledger row {ref.ledger_key}/{email} kept changing")

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
