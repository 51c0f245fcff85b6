"""The batch path against the emulator: many events share each DynamoDB call, and every guarantee of the
one-at-a-time path still holds (counted once, forward only, suppression, nothing counted for strangers)."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import pytest

from herald_analytics.events.batch import BatchIngestor
from herald_analytics.events.batch_store import TRANSACTION_MAX_ACTIONS, CountingStore, CountingWrite, _chunks
from herald_analytics.events.ledger import DeliveryLedger, LedgerRow
from herald_analytics.events.parse import parse_event
from herald_analytics.events.repository import CampaignCounters, EventLog, SuppressionList
from herald_analytics.events.schemas import CampaignRef, SuppressionReason
from herald_analytics.events.service import EventInFlight, EventIngestor
from herald_analytics.events.transitions import Transition

if TYPE_CHECKING:
    from collections.abc import Iterable

    from herald_analytics.events.repository import CampaignTotals
    from herald_analytics.events.schemas import SesEvent

pytestmark = pytest.mark.timeout(60)

CAMPAIGN = "camp_0123456789abcdefghij"
REF = CampaignRef("acme", CAMPAIGN)


def _emails(n: int) -> list[str]:
    return [f"user{i:03d}@example.com" for i in range(n)]


class _Updates:
    def __init__(self) -> None:
        self.touched_refs: set[CampaignRef] = set()

    def touched(self, ref: CampaignRef) -> None:
        self.touched_refs.add(ref)


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _single(harness, updates: _Updates, clock: _Clock, counters: CampaignCounters | None = None) -> EventIngestor:
    names, db = harness.settings.resources, harness.dynamodb
    return EventIngestor(
        events=EventLog(db, names.events_table, lease_seconds=60, ttl_seconds=3600),
        ledger=DeliveryLedger(db, names.ledger_table),
        counters=counters or CampaignCounters(db, names.campaigns_table),
        suppressions=SuppressionList(db, names.suppressions_table),
        updates=updates,
        clock=clock,
    )


def _batch(harness, single: EventIngestor, ledger: Any = None) -> BatchIngestor:
    names, db = harness.settings.resources, harness.dynamodb
    store = CountingStore(
        db,
        events_table=names.events_table,
        ledger_table=names.ledger_table,
        campaigns_table=names.campaigns_table,
        suppressions_table=names.suppressions_table,
        ttl_seconds=3600,
    )
    return BatchIngestor(single, ledger or DeliveryLedger(db, names.ledger_table), store)


def _events(make_event, specs: Iterable[tuple[str, str, dict[str, Any]]]) -> list[SesEvent]:
    events = []
    for event_type, email, detail in specs:
        message_id = detail.pop("message_id", f"msg-{email}")
        event = parse_event(make_event(event_type, recipient=email, message_id=message_id, **detail))
        assert event is not None
        events.append(event)
    return events


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in item.items() if k.endswith("Count") and k not in ("recipientCount", "sentCount")}


class _CallCounter:
    """Counts the DynamoDB calls a client makes, by operation."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __enter__(self) -> _CallCounter:
        self.client.meta.events.register("before-call.dynamodb", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


async def test_a_batch_counts_every_event_once_with_a_few_calls(harness, make_event):
    emails = _emails(40)
    await harness.seed_campaign(recipientCount=40, sentCount=40)
    await harness.seed_ledger(*emails)
    specs = [("Delivery", e, {}) for e in emails[:38]]
    specs += [("Delivery", e, {}) for e in emails[:5]]  # SNS delivering five of them twice, in the same batch
    specs += [("Open", e, {}) for e in emails[:3]]  # the same rows again: planned on the row the Delivery left
    specs += [("Bounce", emails[38], {}), ("Complaint", emails[0], {})]
    specs += [("Send", e, {}) for e in emails[:10]]  # settled rows: flagged and counted once (send_seen.py)
    specs += [("Delivery", "stranger@example.com", {}), ("Bounce", emails[39], {"test": True})]
    events = _events(make_event, specs)
    updates = _Updates()
    with _CallCounter(harness.dynamodb) as counter:
        errors = await _batch(harness, _single(harness, updates, _Clock())).ingest_many(events)

    assert errors == [None] * len(events)
    assert _counters(await harness.campaign()) == {
        "deliveredCount": 38,
        "openedCount": 3,
        "bouncedCount": 1,
        "complainedCount": 1,
        "sesSendEventCount": 10,
    }
    assert updates.touched_refs == {REF}
    # The test send's bounce first: one conditional put on the suppression list, nothing counted. Then a round per
    # write of the busiest row (Delivery, Open, Complaint, then its Send); the duplicates and the Sends of other rows
    # ride along in those rounds.
    assert counter.calls == ["PutItem"] + ["BatchGetItem", "TransactWriteItems"] * 4
    assert (await harness.ledger(emails[0]))["delivery"] == "delivered"
    assert (await harness.ledger(emails[38]))["delivery"] == "bounced"
    assert (await harness.suppression(emails[38]) or {})["reason"] == "bounce"
    assert (await harness.suppression(emails[0]) or {})["reason"] == "complaint"
    assert (await harness.suppression(emails[39]) or {})["reason"] == "bounce"  # a test send's bounce suppresses

    # The whole batch again (an SQS redelivery): nothing moves.
    before = await harness.campaign()
    assert await _batch(harness, _single(harness, _Updates(), _Clock())).ingest_many(events) == [None] * len(events)
    assert await harness.campaign() == before


async def test_concurrent_batches_of_the_same_events_count_them_once(harness, make_event):
    emails = _emails(20)
    await harness.seed_campaign(recipientCount=20, sentCount=20)
    await harness.seed_ledger(*emails)
    events = _events(make_event, [("Delivery", e, {}) for e in emails] + [("Click", e, {}) for e in emails[:7]])
    clock = _Clock()
    batches = [_batch(harness, _single(harness, _Updates(), clock)) for _ in range(3)]

    results = await asyncio.gather(*(b.ingest_many(events) for b in batches))

    assert all(errors == [None] * len(events) for errors in results)
    assert _counters(await harness.campaign()) == {"deliveredCount": 20, "clickedCount": 7}


class _MovedUnderneath(DeliveryLedger):
    """Another replica moves one row (a hard bounce) right after the batch read it."""

    def __init__(self, db: Any, table: str, mover: EventIngestor, event: SesEvent) -> None:
        super().__init__(db, table)
        self.mover, self.event = mover, event

    async def read_many(self, keys: Iterable[tuple[CampaignRef, str]]) -> dict[tuple[str, str], LedgerRow]:
        rows = await super().read_many(keys)
        if self.event is not None:
            event, self.event = self.event, None
            await self.mover.ingest(event)
        return rows


async def test_a_row_moved_after_the_read_is_counted_one_at_a_time(harness, make_event):
    emails = _emails(6)
    await harness.seed_campaign(recipientCount=6, sentCount=6)
    await harness.seed_ledger(*emails)
    clock, updates = _Clock(), _Updates()
    (bounce,) = _events(make_event, [("Bounce", emails[2], {})])
    ledger = _MovedUnderneath(
        harness.dynamodb, harness.settings.resources.ledger_table, _single(harness, _Updates(), clock), bounce
    )
    events = _events(make_event, [("Delivery", e, {}) for e in emails])

    errors = await _batch(harness, _single(harness, updates, clock), ledger).ingest_many(events)

    assert errors == [None] * 6
    # The Delivery planned on the old row lost its transaction; one at a time it finds the bounce and stays out.
    assert _counters(await harness.campaign()) == {"deliveredCount": 5, "bouncedCount": 1}
    assert (await harness.ledger(emails[2]))["delivery"] == "bounced"


async def test_a_replay_is_counted_once_whether_its_row_or_its_event_record_dedupes_it(harness, make_event):
    ada, bob = _emails(2)
    await harness.seed_campaign(recipientCount=2, sentCount=2)
    await harness.seed_ledger(ada, bob)  # no sentAt: an Open before any Delivery is known counts as a person's
    batch = _batch(harness, _single(harness, _Updates(), _Clock()))
    delivery, bob_open = _events(make_event, [("Delivery", ada, {}), ("Open", bob, {"userAgent": "Mozilla/5.0"})])
    assert await batch.ingest_many([delivery, bob_open]) == [None, None]
    # Bob's Delivery comes late, stamped 2 s before his Open: judged now, that Open would be Apple's prefetch.
    (late,) = _events(make_event, [("Delivery", bob, {"timestamp": "2024-01-15T10:59:58.000Z"})])
    assert await batch.ingest_many([late]) == [None]

    assert await batch.ingest_many([delivery, bob_open]) == [None, None]  # both delivered again by SQS

    assert _counters(await harness.campaign()) == {"deliveredCount": 2, "openedCount": 1}
    events_table = harness.settings.resources.events_table

    async def record(event_id: str) -> bool:
        found = await harness.dynamodb.get_item(TableName=events_table, Key={"eventId": {"S": event_id}})
        return "Item" in found

    # A Delivery's row move is its dedupe; an Open keeps a record, as its judgement depends on when it is made.
    assert (await record(delivery.event_id(ada)), await record(bob_open.event_id(bob))) == (False, True)


class _CrashOnce(CampaignCounters):
    crashed = False

    async def add(
        self, ref: CampaignRef, deltas: dict[str, int], now_iso: str, **options: Any
    ) -> CampaignTotals | None:
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("process killed")
        return await super().add(ref, deltas, now_iso, **options)


async def test_an_event_the_one_at_a_time_path_left_half_done_is_finished_once(harness, make_event):
    emails = _emails(3)
    await harness.seed_campaign(recipientCount=3, sentCount=3)
    await harness.seed_ledger(*emails)
    clock = _Clock()
    crashing = _single(
        harness, _Updates(), clock, _CrashOnce(harness.dynamodb, harness.settings.resources.campaigns_table)
    )
    bounce, *deliveries = _events(make_event, [("Bounce", emails[0], {}), ("Delivery", emails[1], {})])
    with pytest.raises(ConnectionError):
        await crashing.ingest(bounce)  # the row moved, the counter did not, the event is still `processing`

    batch = _batch(harness, _single(harness, _Updates(), clock))
    errors = await batch.ingest_many([bounce, *deliveries])
    assert isinstance(errors[0], EventInFlight)  # its first handler might be alive: only that message waits
    assert errors[1] is None
    assert _counters(await harness.campaign()) == {"deliveredCount": 1}

    clock.now += 61  # the lease ran out: the first handler is dead
    assert await batch.ingest_many([bounce, *deliveries]) == [None, None]
    assert await batch.ingest_many([bounce]) == [None]
    assert _counters(await harness.campaign()) == {"deliveredCount": 1, "bouncedCount": 1}


async def test_events_of_an_unknown_campaign_count_nothing_and_spare_the_others(harness, make_event):
    other = "camp_doesnotexist000000"
    await harness.seed_campaign(recipientCount=2, sentCount=2)
    await harness.seed_ledger("ada@example.com", "bob@example.com")
    await harness.seed_ledger("ada@example.com", campaign=other)  # a ledger, but no campaign item
    events = _events(make_event, [("Delivery", "ada@example.com", {}), ("Delivery", "bob@example.com", {})])
    (stray,) = _events(make_event, [("Delivery", "ada@example.com", {"campaign": other, "message_id": "m-other"})])

    errors = await _batch(harness, _single(harness, _Updates(), _Clock())).ingest_many([events[0], stray, events[1]])

    assert errors == [None, None, None]
    assert _counters(await harness.campaign()) == {"deliveredCount": 2}
    missing = await harness.dynamodb.get_item(
        TableName=harness.settings.resources.campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": other}},
    )
    assert "Item" not in missing


def test_chunks_fit_one_transaction_each_and_keep_every_write():
    rng = random.Random(3)
    row = LedgerRow(values={}, version=0, counted={})
    writes = [
        CountingWrite(
            CampaignRef("acme", f"camp_{rng.randrange(7):020d}"),
            f"user{n}@example.com",
            f"event-{n}",
            row,
            Transition("delivery", "bounced", {"bouncedCount": 1}),
            SuppressionReason.BOUNCE if rng.random() < 0.4 else None,
        )
        for n in range(400)
    ]
    chunks = _chunks(writes)
    for chunk in chunks:
        actions = sum(3 if w.suppression else 2 for w in chunk) + len({w.ref for w in chunk})
        assert actions <= TRANSACTION_MAX_ACTIONS
    assert sorted(w.event_id for chunk in chunks for w in chunk) == sorted(w.event_id for w in writes)
    assert len(chunks) <= 2 + sum(3 if w.suppression else 2 for w in writes) // (TRANSACTION_MAX_ACTIONS - 7)


async def test_a_batch_larger_than_one_transaction_is_counted_whole(harness, make_event):
    emails = _emails(60)
    await harness.seed_campaign(recipientCount=60, sentCount=60)
    await harness.seed_ledger(*emails)
    events = _events(make_event, [("Bounce", e, {}) for e in emails])  # 3 actions each: record, row, suppression
    with _CallCounter(harness.dynamodb) as counter:
        errors = await _batch(harness, _single(harness, _Updates(), _Clock())).ingest_many(events)

    assert errors == [None] * 60
    assert counter.calls == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"]
    assert _counters(await harness.campaign()) == {"bouncedCount": 60}
    assert all([(await harness.suppression(e) or {}).get("reason") == "bounce" for e in emails])


async def test_a_hard_bounce_suppresses_even_when_its_row_has_moved_past_it(harness, make_event):
    # Found by the property test (test_counting_paths.py): the one-at-a-time path suppressed such an address, the
    # batch path did not, since its suppression rode only with a ledger move.
    emails = _emails(2)
    await harness.seed_campaign(recipientCount=2, sentCount=2)
    await harness.seed_ledger(*emails)
    batch = _batch(harness, _single(harness, _Updates(), _Clock()))
    reject, bounce = _events(make_event, [("Reject", emails[0], {}), ("Bounce", emails[0], {})])
    complaint, late_complaint = _events(
        make_event, [("Complaint", emails[1], {}), ("Complaint", emails[1], {"feedbackId": "0100-complaint-2"})]
    )
    assert await batch.ingest_many([reject, complaint]) == [None, None]
    assert await harness.suppression(emails[0]) is None  # a Reject is not the address's fault
    assert (await harness.suppression(emails[1]) or {})["reason"] == "complaint"

    await harness.dynamodb.delete_item(  # so the second complaint has something to do
        TableName=harness.settings.resources.suppressions_table,
        Key={"tenantId": {"S": "acme"}, "email": {"S": emails[1]}},
    )
    assert await batch.ingest_many([bounce, late_complaint]) == [None, None]

    assert (await harness.suppression(emails[0]) or {})["reason"] == "bounce"
    assert (await harness.suppression(emails[1]) or {})["reason"] == "complaint"
    assert _counters(await harness.campaign()) == {"rejectedCount": 1, "complainedCount": 1}  # neither counted twice
    assert (await harness.ledger(emails[0]))["delivery"] == "rejected"


async def test_a_hard_bounce_suppresses_a_stranger_and_an_address_of_an_unknown_campaign(harness, make_event):
    other = "camp_doesnotexist000000"
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger("ada@example.com")
    await harness.seed_ledger("bob@example.com", campaign=other)  # a ledger row, but no campaign item
    events = _events(
        make_event,
        [
            ("Bounce", "stranger@example.com", {}),  # tagged with the campaign, not one of its recipients
            ("Bounce", "bob@example.com", {"campaign": other, "message_id": "m-other"}),
            ("Delivery", "ada@example.com", {}),
        ],
    )
    assert await _batch(harness, _single(harness, _Updates(), _Clock())).ingest_many(events) == [None] * 3

    assert (await harness.suppression("stranger@example.com") or {}).get("reason") == "bounce"
    assert (await harness.suppression("bob@example.com") or {}).get("reason") == "bounce"
    assert _counters(await harness.campaign()) == {"deliveredCount": 1}
