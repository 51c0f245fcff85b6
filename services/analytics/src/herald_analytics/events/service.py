"""Counting one SES event at a time (flow step 21), suppressing, and announcing what changed (step 22).

The batch path (batch.py) counts most events, many per transaction; this is the path for what it hands over (events
whose transaction condition failed, Send reconciliations, soft-bounce retries, replays of a half-done event), and
the planning both share. Why the writes happen in this order:

1. claim the event in `{prefix}-events` (conditional put with a lease). A `done` item means a duplicate: nothing
   changes. A live lease means another handler has it: retry later, never delete (it might crash).
2. suppress (hard bounce, complaint): idempotent, so a redelivery may repeat it.
3. the ledger transition, conditional on the row as read (optimistic `analyticsVersion`), storing the event id and
   its counter deltas in `countedEvents` in the same write. The ledger is the idempotency key of the counting:
   two different events cannot both move a row the same way, so each recipient is counted once per outcome.
4. ADD the deltas to the campaign counters (`attribute_exists(campaignId)`: unknown campaigns create nothing) and
   mark the event `done`, in ONE transaction (conditional on this handler's lease still being the stored one), so
   a crash leaves either both written (a redelivery is a duplicate) or neither (the redelivery counts it).
5. an event that counted nothing (stale, unknown recipient or campaign, a reconciliation) is marked `done` alone.

A redelivery after a crash between 3 and 4 finds its own event id in `countedEvents` and finishes step 4 with the
deltas stored there, so no count is lost and none is made twice. (The status follow-ups after a count, completing or
reopening the campaign, are not replayed by a redelivery that finds the event done.)

Three kinds of event also settle the processor's state of a recipient (resends.py, docs/architecture.md): a Send
event reconciles an in-doubt row, and a Transient bounce re-queues the recipient or fails it. Every count marks
the campaign for an announcement, which is when the reputation guard (guard.py) looks at it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from herald_analytics.events.clicks import ClickRules, plan_click
from herald_analytics.events.opens import is_machine_open
from herald_analytics.events.repository import Claim, ClaimState
from herald_analytics.events.resends import (
    Settle,
    pending_retry,
    plan_send_reconciliation,
    plan_soft_bounce,
    send_readiness,
    soft_bounce_failed,
    soft_bounce_readiness,
)
from herald_analytics.events.schemas import BounceType, Effect, EventType
from herald_analytics.events.send_seen import plan_send_seen, with_send_seen
from herald_analytics.events.transitions import DELIVERED_AT, plan_transition
from herald_common.announcements import settled_message
from herald_common.delivery_states import CampaignStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_analytics.events.ledger import LedgerRow
    from herald_analytics.events.repository import CampaignTotals
    from herald_analytics.events.schemas import CampaignRef, SesEvent, SuppressionReason
    from herald_analytics.events.transitions import Transition

log = structlog.get_logger("herald.analytics")

# Concurrent events for one recipient (Delivery and Open together) race on the row's version; a few re-reads
# settle it, and past that SQS redelivers the message later.
MAX_LEDGER_ATTEMPTS = 5


class Outcome(StrEnum):
    COUNTED = "counted"
    RECORDED = "recorded"  # an event with nothing to count (Send, RenderingFailure, Subscription)
    RECONCILED = "reconciled"  # a Send event settled an in-doubt row the processor will count
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


class RowNotSettled(Exception):
    """The processor is between two writes of this recipient's row (sending it, or about to count it): the
    event is looked at again in a few seconds."""


class EventLogPort(Protocol):
    async def claim(self, event_id: str, now: int) -> Claim: ...
    async def complete(self, event_id: str) -> None: ...
    def completion(self, event_id: str, claim: Claim) -> dict[str, Any]:
        """The `done` mark of a claimed event as a transaction action (written with the counters)."""


class LedgerPort(Protocol):
    async def read(self, ref: CampaignRef, email: str) -> LedgerRow | None: ...
    async def apply(
        self, ref: CampaignRef, email: str, row: LedgerRow, transition: Transition, event_id: str
    ) -> bool: ...


class CountersPort(Protocol):
    async def add(
        self,
        ref: CampaignRef,
        deltas: dict[str, int],
        now_iso: str,
        *,
        want_totals: bool = False,
        together_with: dict[str, Any] | None = None,
    ) -> CampaignTotals | None: ...
    async def complete_if_done(self, ref: CampaignRef, now_iso: str) -> bool: ...
    async def reopen(self, ref: CampaignRef, now_iso: str) -> bool: ...


class SuppressionsPort(Protocol):
    async def add(
        self, tenant_id: str, email: str, reason: SuppressionReason, campaign_id: str, now_iso: str
    ) -> bool: ...


class UpdatesPort(Protocol):
    def touched(self, ref: CampaignRef) -> None:
        """A campaign's counters changed: announce it (coalesced)."""


class RetriesPort(Protocol):
    async def schedule(self, ref: CampaignRef, email: str, attempt: int) -> bool:
        """Put retry `attempt` of one recipient on the email-jobs queue, delayed; False when the campaign is gone."""


class SettlementsPort(Protocol):
    async def announce(self, message: dict[str, Any]) -> None:
        """Announce a recipient analytics made final `failed` (herald_common.announcements) for the webhooks."""


@dataclass(frozen=True)
class IngestPolicy:
    """The settings the decisions depend on (config.py)."""

    soft_bounce_retries: int = 2
    machine_open_window_seconds: float = 10.0
    clicks: ClickRules = field(default_factory=ClickRules)


@dataclass
class EventIngestor:
    """Applies one parsed SES event to the ledger, the counters and the suppression list."""

    events: EventLogPort
    ledger: LedgerPort
    counters: CountersPort
    suppressions: SuppressionsPort
    updates: UpdatesPort
    retries: RetriesPort | None = None  # None: soft bounces are recorded, never retried
    settlements: SettlementsPort | None = None  # soft bounces past the retry budget, for `email.failed`
    policy: IngestPolicy = field(default_factory=IngestPolicy)
    clock: Callable[[], float] = time.time

    async def ingest(self, event: SesEvent) -> list[Outcome]:
        """One outcome per recipient of the event."""
        if event.is_test or event.campaign is None:
            await self.suppress_test(event)
            return [Outcome.TEST for _ in event.recipients]
        return [await self.ingest_one(event, event.campaign, email) for email in event.recipients]

    async def suppress_test(self, event: SesEvent) -> None:
        """A test send's event: left out of the ledger and the statistics (the metric still counts it), but a hard
        bounce or complaint puts the address on the tenant's suppression list like any other send's. Adding an
        address already listed changes nothing, so a redelivered event needs no de-duplication here."""
        reason = event.suppression_reason
        if reason is None or event.campaign is None:
            log.info("analytics.event_test_ignored", eventType=event.event_type.value, messageId=event.message_id)
            return
        ref, now_iso = event.campaign, self.now_iso()
        for email in event.recipients:
            if await self.suppressions.add(ref.tenant_id, email, reason, ref.campaign_id, now_iso):
                log.info(
                    "analytics.suppressed",
                    reason=reason.value,
                    tenantId=ref.tenant_id,
                    campaignId=ref.campaign_id,
                    messageId=event.message_id,
                    test=True,
                )

    def resends(self, event: SesEvent) -> bool:
        """Whether the event may change the processor's state of the row (resends.py)."""
        if event.event_type is EventType.SEND:
            return True
        return event.bounce_type is BounceType.TRANSIENT and self.retries is not None

    async def ingest_one(self, event: SesEvent, ref: CampaignRef, email: str) -> Outcome:
        event_id = event.event_id(email)
        context = {
            "tenantId": ref.tenant_id,
            "campaignId": ref.campaign_id,
            "eventType": event.event_type.value,
            "messageId": event.message_id,
            "eventId": event_id[:16],
        }
        now = int(self.clock())
        if event.effect is Effect.NONE and event.event_type is not EventType.SEND:
            # Nothing to count, so nothing to deduplicate: a write here would only cost the table a call per email.
            log.debug("analytics.event_recorded", **context)
            return Outcome.RECORDED
        if self.resends(event) and not await self._worth_claiming(event, ref, email):
            log.debug("analytics.event_recorded", **context)
            return Outcome.RECORDED

        claim = await self.events.claim(event_id, now)
        if claim.state is ClaimState.DONE:
            log.info("analytics.event_duplicate", **context)
            return Outcome.DUPLICATE
        if claim.state is ClaimState.IN_FLIGHT:
            raise EventInFlight(event_id, claim.retry_after)

        now_iso = self.now_iso()
        reason = event.suppression_reason
        if reason is not None and await self.suppressions.add(ref.tenant_id, email, reason, ref.campaign_id, now_iso):
            log.info("analytics.suppressed", reason=reason.value, **context)

        done = self.events.completion(event_id, claim)
        outcome = await self._count(event, ref, email, event_id, now_iso, context, done)
        if outcome is not Outcome.COUNTED:  # a count marked the event done in its own transaction
            await self.events.complete(event_id)
        return outcome

    async def _worth_claiming(self, event: SesEvent, ref: CampaignRef, email: str) -> bool:
        """A Send event is claimed only for a row it reconciles (most find theirs `sent`: a read, no write); a
        Transient bounce always is, but waits while the processor is between two writes of the row."""
        row = await self.ledger.read(ref, email)
        if row is None:
            return event.event_type is not EventType.SEND
        if event.event_type is EventType.SEND:
            readiness = send_readiness(row)
        else:
            readiness = soft_bounce_readiness(row, event.message_id)
        if readiness is Settle.WAIT:
            raise RowNotSettled(f"ledger row {ref.ledger_key}/{email} is {row.values.get('state')}")
        if event.event_type is EventType.SEND and plan_send_seen(row.values, "") is not None:
            return True  # its first sight is counted (send_seen.py)
        return readiness is Settle.ACT or event.event_type is not EventType.SEND

    async def _count(
        self,
        event: SesEvent,
        ref: CampaignRef,
        email: str,
        event_id: str,
        now_iso: str,
        context: dict[str, str],
        done: dict[str, Any],
    ) -> Outcome:
        applied = await self._transition(event, ref, email, event_id)
        if applied is None:
            return Outcome.UNKNOWN_RECIPIENT
        deltas, row_after = applied
        requeued = False
        if row_after is not None and (attempt := pending_retry(row_after)) is not None and self.retries:
            # Before the counters: the re-queued row must get its job even if the campaign item is gone.
            await self.retries.schedule(ref, email, attempt)
            log.info("analytics.soft_bounce_retry_scheduled", attempt=attempt, **context)
            requeued = True
        if row_after is not None and self.settlements is not None and soft_bounce_failed(row_after):
            # Before the counters, like a retry job: a crash in between is finished by the redelivery, which finds
            # the row failed and announces it again (one webhook id for both).
            await self.settlements.announce(_settled(ref, email, row_after))
        if not deltas:
            if row_after is not None and event.event_type is EventType.SEND:
                log.info("analytics.send_reconciled", **context)
                return Outcome.RECONCILED
            log.info("analytics.event_stale", effect=event.effect.value, **context)
            return Outcome.STALE
        settles = deltas.get("finalCount", 0) > 0
        totals = await self.counters.add(ref, deltas, now_iso, want_totals=settles or requeued, together_with=done)
        if totals is None:
            log.warning("analytics.event_unknown_campaign", **context)
            return Outcome.UNKNOWN_CAMPAIGN
        log.info("analytics.event_counted", effect=event.effect.value, deltas=deltas, **context)
        if settles and totals.status == CampaignStatus.SENDING:
            # Analytics settled this recipient's final state itself: it may have been the campaign's last one.
            await self.counters.complete_if_done(ref, now_iso)
        if requeued and totals.status == CampaignStatus.SENT:
            # A recipient is queued again: the campaign is sending until the retry ends (the processor then
            # completes it as usual).
            await self.counters.reopen(ref, now_iso)
        self.updates.touched(ref)  # announced, and looked at by the reputation guard (guard.py)
        return Outcome.COUNTED

    async def _transition(
        self, event: SesEvent, ref: CampaignRef, email: str, event_id: str
    ) -> tuple[dict[str, int], LedgerRow | None] | None:
        """The counter deltas this event owes ({} when it changes nothing) and, when it moved the processor's
        state, the row as it left it; None when the recipient is unknown."""
        timestamp = event.timestamp or self.now_iso()
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
                # A crashed attempt moved the row: finish its count (and its retry job, if it queued one).
                return row.counted[event_id], row
            transition = self.plan(event, row, timestamp)
            if transition is None:
                return {}, None
            if await self.ledger.apply(ref, email, row, transition, event_id):
                moved = transition.require is not None
                return transition.deltas, _after(row, transition) if moved else None
        raise LedgerContention(f"ledger row {ref.ledger_key}/{email} kept changing")

    def plan(self, event: SesEvent, row: LedgerRow, timestamp: str) -> Transition | None:
        if event.event_type is EventType.SEND:
            reconciliation = plan_send_reconciliation(row, event.message_id, timestamp)
            if reconciliation is None:
                return plan_send_seen(row.values, timestamp)
            return with_send_seen(reconciliation, row.values, timestamp)
        if self.resends(event) and soft_bounce_readiness(row, event.message_id) is Settle.ACT:
            return plan_soft_bounce(row, event.message_id, timestamp, self.policy.soft_bounce_retries)
        if event.effect is Effect.CLICKED and event.link is not None:
            delivered = row.values.get(DELIVERED_AT) or row.values.get("sentAt")
            return plan_click(row.values, event.link, event.user_agent, timestamp, delivered, self.policy.clicks)
        machine = event.effect is Effect.OPENED and is_machine_open(
            event.user_agent,
            timestamp,
            row.values.get(DELIVERED_AT) or row.values.get("sentAt"),
            self.policy.machine_open_window_seconds,
        )
        return plan_transition(row.values, event.effect, timestamp, machine=machine)

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _settled(ref: CampaignRef, email: str, row: LedgerRow) -> dict[str, Any]:
    return settled_message(
        tenant_id=ref.tenant_id,
        campaign_id=ref.campaign_id,
        email=email,
        state=row.values["state"],
        attempt=row.numbers.get("attempt", 0),
        retry_call=row.numbers.get("retryCall"),
        reason=row.values.get("reason"),
        message_id=row.values.get("messageId"),
        at=row.values.get("updatedAt") or row.values.get("softBouncedAt"),
    )


def _after(row: LedgerRow, transition: Transition) -> LedgerRow:
    """The row as `transition` left it (what the follow-up steps look at)."""
    values = {k: v for k, v in row.values.items() if k not in transition.remove}
    values |= {transition.attribute: transition.value, **transition.also}
    return type(row)(
        values=values,
        version=row.version + 1,
        counted=row.counted,
        processor_counted=row.processor_counted and "counted" not in transition.remove,
        numbers={**row.numbers, **transition.numbers},
    )
