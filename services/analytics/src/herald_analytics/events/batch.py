"""Counting a batch of SES events with a handful of AWS calls (flow step 21, at the rate SES publishes).

For the events of up to a few SQS receives:
1. one BatchGetItem reads every recipient's ledger row (strongly consistent);
2. each event is planned against its row, exactly as one at a time (service.py): most count (a forward move),
   some change nothing (stale, a Send of a settled row, an unknown recipient) and are done without a write;
3. one transaction per ≤ 100 actions (batch_store.py) moves the counted events' rows (recording the opens among
   them in the event log), suppresses and adds each campaign's summed deltas, all or nothing;
4. each campaign touched is announced once (updates.py), which is also when the reputation guard looks at it.

Two events for one recipient in the same batch are planned in turn: the second against the row the first left
(a later round reads it again when the first wrote it).
Everything the batch path does not take on is handled one event at a time by `EventIngestor` with its proven
claim → move → count → done sequence: events whose transaction condition failed (a row moved meanwhile, an event
already known or in flight), Send events that reconcile an in-doubt row, soft bounces that re-queue a recipient,
hard bounces and complaints that suppress without counting, and redeliveries of events the one-at-a-time
path left half done. Why both paths stay: docs/architecture.md, "Why both ways of writing stay".
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Protocol

import structlog

from herald_analytics.events.batch_store import CommitResult, CountingWrite
from herald_analytics.events.resends import Settle, send_readiness
from herald_analytics.events.schemas import Effect, EventType
from herald_analytics.events.service import Outcome, RowNotSettled
from herald_analytics.events.transitions import ROW_DEDUPED

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from herald_analytics.events.ledger import LedgerRow
    from herald_analytics.events.schemas import CampaignRef, SesEvent
    from herald_analytics.events.service import EventIngestor

log = structlog.get_logger("herald.analytics")


class _Handoff(Enum):
    SLOW = "slow"  # a decision: the one-at-a-time path handles this event


_SLOW = _Handoff.SLOW
# A write whose row kept moving under its transaction goes to the one-at-a-time path after this many new plans.
MAX_REPLANS = 3


class LedgerBatchPort(Protocol):
    async def read_many(self, keys: Iterable[tuple[CampaignRef, str]]) -> dict[tuple[str, str], LedgerRow]: ...


class CountingPort(Protocol):
    async def commit(self, writes: Sequence[CountingWrite], now: int, now_iso: str) -> CommitResult: ...


@dataclass(frozen=True)
class _Work:
    """One recipient of one event of the batch."""

    index: int  # the event's position in the batch
    event: SesEvent
    ref: CampaignRef
    email: str
    event_id: str
    replans: int = 0  # times its row moved under its transaction and it was planned again

    @property
    def row_key(self) -> tuple[str, str]:
        return (self.ref.ledger_key, self.email)


class BatchIngestor:
    """Counts a batch of parsed events; one result per event (None, or the error its message is retried for)."""

    def __init__(self, single: EventIngestor, ledger: LedgerBatchPort, store: CountingPort) -> None:
        self._single = single
        self._ledger = ledger
        self._store = store

    async def ingest_many(self, events: Sequence[SesEvent]) -> list[BaseException | None]:
        errors: list[BaseException | None] = [None] * len(events)
        tally: Counter[tuple[CampaignRef | None, Outcome]] = Counter()
        fast: list[_Work] = []
        slow: list[_Work] = []
        for index, event in enumerate(events):
            if event.is_test or event.campaign is None:
                try:
                    await self._single.suppress_test(event)
                except Exception as exc:  # an AWS error: this event's message is retried
                    errors[index] = exc
                    continue
                tally[(None, Outcome.TEST)] += len(event.recipients)
                continue
            for email in event.recipients:
                work = _Work(index, event, event.campaign, email, event.event_id(email))
                if event.effect is Effect.NONE and event.event_type is not EventType.SEND:
                    tally[(work.ref, Outcome.RECORDED)] += 1  # nothing to count, so nothing to deduplicate
                elif self._single.resends(event) and event.event_type is not EventType.SEND:
                    slow.append(work)
                else:
                    fast.append(work)

        while fast:
            try:
                more_slow, fast = await self._round(fast, errors, tally)
                slow += more_slow
            except Exception as exc:  # an AWS error: nothing of this round was written; retry its messages
                for work in fast:
                    errors[work.index] = exc
                log.warning("analytics.batch_failed", events=len(fast), error=repr(exc))
                break

        if slow:
            outcomes = await asyncio.gather(
                *(self._single.ingest_one(w.event, w.ref, w.email) for w in slow), return_exceptions=True
            )
            for work, outcome in zip(slow, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    errors[work.index] = errors[work.index] or outcome
                else:
                    tally[(work.ref, outcome)] += 1
        self._log(tally)
        return errors

    async def _round(
        self, work: list[_Work], errors: list[BaseException | None], tally: Counter[tuple[CampaignRef | None, Outcome]]
    ) -> tuple[list[_Work], list[_Work]]:
        """Plan and commit one round: (work for the one-at-a-time path, work for the next round).

        A row's events are planned in order against the row as read, up to the first that writes it; the ones
        after that wait for the next round, which reads the row that write left.
        """
        rows = await self._ledger.read_many((w.ref, w.email) for w in work)
        slow: list[_Work] = []
        later: list[_Work] = []
        written: set[tuple[str, str]] = set()
        event_ids: set[str] = set()  # one transaction cannot hold two records of one event
        writes: dict[int, _Work] = {}
        planned: list[CountingWrite] = []
        for item in work:
            if item.row_key in written or item.event_id in event_ids:
                later.append(item)
                continue
            decision = self._decide(item, rows.get(item.row_key))
            if isinstance(decision, CountingWrite):
                written.add(item.row_key)
                event_ids.add(item.event_id)
                writes[id(decision)] = item
                planned.append(decision)
            elif decision is _SLOW:
                slow.append(item)
            elif isinstance(decision, Outcome):
                tally[(item.ref, decision)] += 1
            else:
                errors[item.index] = decision
        if planned:
            result = await self._store.commit(planned, int(self._single.clock()), self._single.now_iso())
            for write in result.committed:
                tally[(write.ref, Outcome.COUNTED)] += 1
                self._single.updates.touched(write.ref)
                if write.suppression is not None:
                    log.info(
                        "analytics.suppressed",
                        reason=write.suppression.value,
                        tenantId=write.ref.tenant_id,
                        campaignId=write.ref.campaign_id,
                    )
            for write in result.unknown_campaign:
                if write.suppression is not None:
                    slow.append(writes[id(write)])  # suppressed there, its campaign found unknown there
                    continue
                log.warning(
                    "analytics.event_unknown_campaign", tenantId=write.ref.tenant_id, campaignId=write.ref.campaign_id
                )
                tally[(write.ref, Outcome.UNKNOWN_CAMPAIGN)] += 1
            for write in result.fallback:
                item = writes[id(write)]
                if not write.record and item.replans < MAX_REPLANS:
                    # Its row moved meanwhile (often: the same event, counted by another batch): plan it again on
                    # the row as it is now, in the next round. (An event with a record may be in flight or done
                    # elsewhere: the one-at-a-time path's claim sorts that out.)
                    later.append(replace(item, replans=item.replans + 1))
                else:
                    slow.append(item)
        return slow, later

    def _decide(self, item: _Work, row: LedgerRow | None) -> CountingWrite | Outcome | RowNotSettled | _Handoff:
        """What one event does to its row as read: a write, an outcome without one, an error for its message, or
        `_SLOW` (the one-at-a-time path's business)."""
        if row is None:
            if item.event.suppression_reason is not None:
                return _SLOW  # still suppresses the address, as below
            log.warning(
                "analytics.event_unknown_recipient",
                tenantId=item.ref.tenant_id,
                campaignId=item.ref.campaign_id,
                eventType=item.event.event_type.value,
                messageId=item.event.message_id,
            )
            return Outcome.UNKNOWN_RECIPIENT
        if item.event_id in row.counted:  # the one-at-a-time path moved this row for this event: let it finish
            return _SLOW
        if item.event.event_type is EventType.SEND:
            readiness = send_readiness(row)
            if readiness is Settle.WAIT:
                return RowNotSettled(f"ledger row {item.ref.ledger_key}/{item.email} is unknown, not counted yet")
            if readiness is Settle.ACT:
                return _SLOW
        transition = self._single.plan(item.event, row, item.event.timestamp or self._single.now_iso())
        if transition is None:
            # A hard bounce or complaint suppresses its address even when it counts nothing (its row moved past it:
            # a bounce after a Reject, a redelivery; or no row, or no campaign): the one-at-a-time path does so,
            # while a batch write carries a suppression only with a ledger move and a counter update.
            if item.event.suppression_reason is not None:
                return _SLOW
            return Outcome.RECORDED if item.event.event_type is EventType.SEND else Outcome.STALE
        return CountingWrite(
            item.ref,
            item.email,
            item.event_id,
            row,
            transition,
            item.event.suppression_reason,
            # A Send's first sight is a forward-only flag on the row (send_seen.py): that is its dedupe.
            record=item.event.effect not in ROW_DEDUPED and item.event.event_type is not EventType.SEND,
        )

    @staticmethod
    def _log(tally: Counter[tuple[CampaignRef | None, Outcome]]) -> None:
        """One line per campaign per batch (a line per event would cost more than counting it)."""
        by_campaign: dict[CampaignRef | None, dict[str, int]] = {}
        for (ref, outcome), n in tally.items():
            by_campaign.setdefault(ref, {})[outcome.value] = n
        for ref, outcomes in by_campaign.items():
            if ref is None:
                log.info("analytics.events_ingested", outcomes=outcomes)
            else:
                log.info(
                    "analytics.events_ingested", tenantId=ref.tenant_id, campaignId=ref.campaign_id, outcomes=outcomes
                )
