"""SES events through SNS → SQS → the analytics consumer, against the emulator: counted once, in the right state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from herald_analytics.events.ledger import DeliveryLedger
from herald_analytics.events.parse import parse_event
from herald_analytics.events.repository import (
    CampaignCounters,
    CampaignTotals,
    ClaimLost,
    EventLog,
    SuppressionList,
)
from herald_analytics.events.schemas import CampaignRef
from herald_analytics.events.service import EventInFlight, EventIngestor, Outcome
from tests.analytics.conftest import EVENT_TYPES

CAMPAIGN = "camp_0123456789abcdefghij"
ADA, BOB, CY, DEE = "ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in item.items() if k.endswith("Count") or k == "statsVersion"}


async def test_events_are_counted_once_per_recipient(harness, make_event):
    await harness.seed_campaign(recipientCount=4, sentCount=4)
    await harness.seed_ledger(ADA, BOB, CY, DEE)
    delivery = make_event("Delivery", recipient=ADA, message_id="m-ada")
    async with harness.running():
        await harness.publish(
            make_event("Send", recipient=ADA, message_id="m-ada"),
            delivery,
            delivery,  # SNS/SQS delivering the same event twice
            make_event("Open", recipient=ADA, message_id="m-ada"),
            make_event("Open", recipient=ADA, message_id="m-ada", timestamp="2024-01-15T12:00:00.000Z"),
            make_event("Click", recipient=ADA, message_id="m-ada"),
            make_event("Delivery", recipient=BOB, message_id="m-bob"),
            make_event("Complaint", recipient=BOB, message_id="m-bob"),
            make_event("Bounce", recipient=CY, message_id="m-cy"),
            make_event("Bounce", recipient=DEE, message_id="m-dee", bounceType="Transient"),
            make_event("DeliveryDelay", recipient=DEE, message_id="m-dee"),
        )
        await harness.drained()
        # the same events again, later: nothing moves
        await harness.publish(delivery, make_event("Complaint", recipient=BOB, message_id="m-bob"))
        await harness.drained()

    item = await harness.campaign()
    # One counter update per campaign per batch: at most one per counted event, at least one.
    assert 1 <= item.pop("statsVersion") <= 9
    assert _counters(item) == {
        "recipientCount": 4,
        "sentCount": 4,
        "sesSendEventCount": 1,  # Ada's Send, seen once
        "deliveredCount": 2,
        "complainedCount": 1,
        "bouncedCount": 1,
        "softBouncedCount": 1,
        "delayedCount": 1,
        "openedCount": 1,
        "clickedCount": 1,
    }
    assert item["updatedAt"] != "2024-01-15T10:00:00.000Z"
    ada, cy, dee = await harness.ledger(ADA), await harness.ledger(CY), await harness.ledger(DEE)
    assert (ada["delivery"], ada["state"]) == ("delivered", "sent")  # the processor's state is left alone
    assert ada["openedAt"] in ("2024-01-15T11:00:00.000Z", "2024-01-15T12:00:00.000Z")  # whichever came first
    assert (cy["delivery"], dee["delivery"]) == ("bounced", "softBounced")

    assert (await harness.suppression(CY)) == {
        "tenantId": "acme",
        "email": CY,
        "reason": "bounce",
        "campaignId": CAMPAIGN,
        "createdAt": (await harness.suppression(CY) or {})["createdAt"],
    }
    assert (await harness.suppression(BOB) or {})["reason"] == "complaint"
    assert await harness.suppression(DEE) is None  # soft bounces are not suppressed
    assert await harness.suppression(ADA) is None


async def test_out_of_order_bounce_then_delivery_stays_bounced(harness, make_event):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    async with harness.running():
        await harness.publish(make_event("Bounce", recipient=ADA))
        await harness.drained()
        await harness.publish(make_event("Delivery", recipient=ADA))
        await harness.drained()

    item = await harness.campaign()
    assert (item.get("bouncedCount"), item.get("deliveredCount", 0)) == (1, 0)
    assert (await harness.ledger(ADA))["delivery"] == "bounced"


async def test_a_bounce_after_delivery_moves_the_recipient_to_bounced(harness, make_event):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    async with harness.running():
        await harness.publish(make_event("Delivery", recipient=ADA))
        await harness.drained()
        await harness.publish(make_event("Bounce", recipient=ADA))
        await harness.drained()

    item = await harness.campaign()
    assert (item["bouncedCount"], item["deliveredCount"]) == (1, 0)
    assert (await harness.suppression(ADA) or {})["reason"] == "bounce"


async def test_events_without_tags_are_attributed_by_headers(harness, make_event):
    await harness.seed_campaign(recipientCount=2)
    await harness.seed_ledger(ADA, BOB)
    async with harness.running():
        await harness.publish(
            make_event("Delivery", recipient=ADA, tags=False),  # event publishing, tags missing
            make_event("Bounce", recipient=BOB, notification=True),  # identity notification: never tagged
        )
        await harness.drained()

    item = await harness.campaign()
    assert (item["deliveredCount"], item["bouncedCount"]) == (1, 1)
    assert (await harness.suppression(BOB) or {})["reason"] == "bounce"


async def test_test_sends_unknown_campaigns_and_strangers_count_nothing(harness, make_event):
    await harness.seed_campaign(recipientCount=1)
    await harness.seed_ledger(ADA)
    await harness.seed_ledger(ADA, campaign="camp_doesnotexist000000")  # a ledger, but no campaign item
    async with harness.running():
        await harness.publish(
            make_event("Bounce", recipient=ADA, test=True),
            make_event("Delivery", recipient="stranger@example.com"),
            make_event("Delivery", recipient=ADA, campaign="camp_doesnotexist000000"),
        )
        await harness.drained()

    item = await harness.campaign()
    assert "deliveredCount" not in item
    assert "bouncedCount" not in item
    assert "statsVersion" not in item
    # A test send's hard bounce is counted nowhere, but the address is suppressed like any other's.
    assert (await harness.suppression(ADA) or {})["reason"] == "bounce"
    missing = await harness.dynamodb.get_item(
        TableName=harness.settings.resources.campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": "camp_doesnotexist000000"}},
    )
    assert "Item" not in missing


async def test_unattributable_and_malformed_messages_go_to_the_dead_letter_queue(harness, make_event):
    sqs = harness.aws.require_sqs()
    dlq = harness.provisioned.ses_events_dlq_url
    async with harness.running():
        await harness.publish(make_event("Delivery", tags=False, headers=False))
        await sqs.send_message(QueueUrl=harness.provisioned.ses_events_queue_url, MessageBody="not json")
        await harness.drained()

    received = await sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"].split(":")[0] for m in received["Messages"])
    assert reasons == ["MalformedEvent", "UnattributableEvent"]


async def test_a_campaign_update_is_published_per_campaign_touched(harness, make_event):
    sqs, sns = harness.aws.require_sqs(), harness.aws.require_sns()
    url = (await sqs.create_queue(QueueName=f"{harness.settings.resource_prefix}-ui-updates"))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"]["QueueArn"]
    topic = harness.provisioned.campaign_updates_topic_arn
    await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    await harness.seed_campaign(recipientCount=3, sentCount=3)
    await harness.seed_ledger(ADA, BOB, CY)
    async with harness.running():
        await harness.publish(*(make_event("Delivery", recipient=r, message_id=f"m-{r}") for r in (ADA, BOB, CY)))
        await harness.drained()
        messages: list[dict[str, Any]] = []
        for _ in range(20):
            response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages += [json.loads(m["Body"]) for m in response.get("Messages", [])]
            if messages and messages[-1]["stats"]["delivered"] == 3:
                break

    assert len(messages) < 3  # coalesced: not one per event
    last = messages[-1]
    assert (last["type"], last["tenantId"], last["campaignId"]) == ("campaign.stats", "acme", CAMPAIGN)
    assert last["stats"]["delivered"] == 3
    assert last["stats"]["deliveryRate"] == 1.0


class _CrashOnce(CampaignCounters):
    """The process dies right after the ledger transition, before the counters are added."""

    crashed = False

    async def add(
        self, ref: CampaignRef, deltas: dict[str, int], now_iso: str, **options: Any
    ) -> CampaignTotals | None:
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("process killed")
        return await super().add(ref, deltas, now_iso, **options)


class _Updates:
    def __init__(self) -> None:
        self.touched_refs: list[CampaignRef] = []

    def touched(self, ref: CampaignRef) -> None:
        self.touched_refs.append(ref)


async def test_a_redelivery_after_a_crash_completes_the_count_once(harness, make_event):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    names, db = harness.settings.resources, harness.dynamodb
    now = [1_700_000_000.0]
    updates = _Updates()
    ingestor = EventIngestor(
        events=EventLog(db, names.events_table, lease_seconds=60, ttl_seconds=3600),
        ledger=DeliveryLedger(db, names.ledger_table),
        counters=_CrashOnce(db, names.campaigns_table),
        suppressions=SuppressionList(db, names.suppressions_table),
        updates=updates,
        clock=lambda: now[0],
    )
    event = parse_event(make_event("Bounce", recipient=ADA))
    assert event is not None

    with pytest.raises(ConnectionError):
        await ingestor.ingest(event)
    assert (await harness.ledger(ADA))["delivery"] == "bounced"  # the ledger moved, the counter did not
    assert "bouncedCount" not in await harness.campaign()
    with pytest.raises(EventInFlight):  # an immediate redelivery waits for the lease: the first might be alive
        await ingestor.ingest(event)

    now[0] += 61  # the lease ran out: the first handler is dead
    assert await ingestor.ingest(event) == [Outcome.COUNTED]
    assert await ingestor.ingest(event) == [Outcome.DUPLICATE]

    assert (await harness.campaign())["bouncedCount"] == 1
    assert (await harness.suppression(ADA) or {})["reason"] == "bounce"
    assert updates.touched_refs == [CampaignRef("acme", CAMPAIGN)]


class _CrashAfterCount(CampaignCounters):
    """The process dies right after the counter write returned, before anything else happens."""

    crashed = False

    async def add(
        self, ref: CampaignRef, deltas: dict[str, int], now_iso: str, **options: Any
    ) -> CampaignTotals | None:
        totals = await super().add(ref, deltas, now_iso, **options)
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("process killed")
        return totals


def _one_at_a_time(harness, counters: CampaignCounters, now: list[float]) -> EventIngestor:
    names, db = harness.settings.resources, harness.dynamodb
    return EventIngestor(
        events=EventLog(db, names.events_table, lease_seconds=60, ttl_seconds=3600),
        ledger=DeliveryLedger(db, names.ledger_table),
        counters=counters,
        suppressions=SuppressionList(db, names.suppressions_table),
        updates=_Updates(),
        clock=lambda: now[0],
    )


async def test_a_redelivery_after_a_crash_right_after_the_count_counts_nothing_again(harness, make_event):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    now = [1_700_000_000.0]
    ingestor = _one_at_a_time(
        harness, _CrashAfterCount(harness.dynamodb, harness.settings.resources.campaigns_table), now
    )
    event = parse_event(make_event("Bounce", recipient=ADA))
    assert event is not None

    with pytest.raises(ConnectionError):
        await ingestor.ingest(event)
    assert (await harness.campaign())["bouncedCount"] == 1  # counted, and the event marked done with it

    assert await ingestor.ingest(event) == [Outcome.DUPLICATE]  # SQS redelivers the unacknowledged message
    now[0] += 61  # and again once any lease would have run out
    assert await ingestor.ingest(event) == [Outcome.DUPLICATE]
    assert (await harness.campaign())["bouncedCount"] == 1


class _TakenOverBeforeCount(CampaignCounters):
    """This handler stalls between the ledger move and the count for longer than its lease; meanwhile a redelivery
    is handled by another handler (`other`), which claims the event anew and finishes the count."""

    def __init__(self, harness, other: EventIngestor, event: Any, now: list[float]) -> None:
        super().__init__(harness.dynamodb, harness.settings.resources.campaigns_table)
        self.other: EventIngestor | None = other
        self.event, self.now = event, now

    async def add(
        self, ref: CampaignRef, deltas: dict[str, int], now_iso: str, **options: Any
    ) -> CampaignTotals | None:
        if self.other is not None:
            other, self.other = self.other, None
            self.now[0] += 61
            assert await other.ingest(self.event) == [Outcome.COUNTED]
        return await super().add(ref, deltas, now_iso, **options)


async def test_a_handler_whose_lease_was_taken_over_counts_nothing(harness, make_event):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    counters = CampaignCounters(harness.dynamodb, harness.settings.resources.campaigns_table)
    now = [1_700_000_000.0]
    event = parse_event(make_event("Bounce", recipient=ADA))
    assert event is not None
    stalled = _TakenOverBeforeCount(harness, _one_at_a_time(harness, counters, now), event, now)

    with pytest.raises(ClaimLost):
        await _one_at_a_time(harness, stalled, now).ingest(event)

    assert (await harness.campaign())["bouncedCount"] == 1
    assert await _one_at_a_time(harness, counters, now).ingest(event) == [Outcome.DUPLICATE]


# What each SES event type does to a recipient that was sent (ledger `delivery` and flags; the counter it adds).
_EFFECTS = {
    "Send": ("sendEventAt", "sesSendEventCount"),
    "Delivery": ("delivery", "deliveredCount"),
    "Bounce": ("delivery", "bouncedCount"),
    "Complaint": ("complainedAt", "complainedCount"),
    "Reject": ("delivery", "rejectedCount"),
    "DeliveryDelay": ("delayedAt", "delayedCount"),
    "Rendering Failure": (None, None),
    "Open": ("openedAt", "openedCount"),
    "Click": ("clickedAt", "clickedCount"),
    "Subscription": (None, None),
}


async def test_every_event_type_in_every_form_reaches_the_counters(harness, make_event, envelope):
    sqs = harness.aws.require_sqs()
    cases = [(t, form) for t in EVENT_TYPES for form in ("envelope", "raw")]
    cases += [(t, "notification") for t in ("Delivery", "Bounce", "Complaint")]  # identity notifications (SNS)

    def recipient(event_type: str, form: str) -> str:
        return f"{event_type.replace(' ', '').lower()}-{form}@example.com"

    await harness.seed_campaign(recipientCount=len(cases), sentCount=len(cases))
    await harness.seed_ledger(*(recipient(t, form) for t, form in cases))
    async with harness.running():
        for event_type, form in cases:
            email = recipient(event_type, form)
            event = make_event(
                event_type, recipient=email, message_id=f"m-{email}", notification=form == "notification"
            )
            body = json.dumps(event) if form == "raw" else envelope(event)  # raw: SNS RawMessageDelivery
            await sqs.send_message(QueueUrl=harness.provisioned.ses_events_queue_url, MessageBody=body)
        await harness.drained()

    expected: dict[str, int] = {}
    for event_type, form in cases:
        attribute, counter = _EFFECTS[event_type]
        row = await harness.ledger(recipient(event_type, form))
        if attribute is None:
            assert not {"delivery", "complainedAt", "openedAt", "clickedAt", "delayedAt"} & set(row), event_type
        else:
            assert row.get(attribute), f"{event_type} ({form}) left no {attribute}"
        if counter is not None:
            expected[counter] = expected.get(counter, 0) + 1
    counts = _counters(await harness.campaign())
    assert {k: v for k, v in counts.items() if k not in ("recipientCount", "sentCount", "statsVersion")} == expected
    assert expected == {
        "deliveredCount": 3, "bouncedCount": 3, "complainedCount": 3, "rejectedCount": 2, "delayedCount": 2,
        "openedCount": 2, "clickedCount": 2, "sesSendEventCount": 2,
    }  # fmt: skip


async def test_events_that_arrive_before_the_message_id_is_stored_still_count(harness, make_event):
    await harness.seed_campaign(recipientCount=2, finalCount=0)
    for email in (ADA, BOB):  # claimed by the processor, sent by SES, the outcome not written yet
        await harness.dynamodb.put_item(
            TableName=harness.settings.resources.ledger_table,
            Item={
                "campaignKey": {"S": f"acme#{CAMPAIGN}"},
                "email": {"S": email},
                "state": {"S": "sending"},
                "leaseOwner": {"S": "processor-1"},
                "leaseExpiresAt": {"N": "4102444800"},
                "attempt": {"N": "1"},
            },
        )
    async with harness.running():
        await harness.publish(
            make_event("Delivery", recipient=ADA, message_id="m-ada"),  # attributed by its tags
            make_event("Bounce", recipient=BOB, message_id="m-bob", tags=False),  # by its X-Herald-* headers only
        )
        await harness.drained()

    item = await harness.campaign()
    assert (item["deliveredCount"], item["bouncedCount"]) == (1, 1)
    ada, bob = await harness.ledger(ADA), await harness.ledger(BOB)
    assert (ada["state"], ada["delivery"], bob["state"], bob["delivery"]) == (
        "sending",
        "delivered",
        "sending",
        "bounced",
    )
    assert "messageId" not in ada  # the processor's to write; analytics only added the outcome
    assert (await harness.suppression(BOB) or {})["reason"] == "bounce"
