"""Property: the batch path and the one-at-a-time path count the same events the same way, whatever their order,
however often SNS/SQS redelivers them and however the consumer's receives cut them into batches.

Each example runs one delivery sequence through both paths against the emulator, each on its own tenant and
campaign (same recipients, same events, some for an address that is not a recipient), then compares what they
left: the campaign's counters, each recipient's ledger outcome and the suppression list. The sequence holds every
event at least once, some again, in any order; two events for one recipient may arrive in either order, and both
paths must then agree on what that order means (a Delivery after a Reject changes nothing, a Permanent bounce after
a Delivery replaces it).

Found by it, and fixed: the batch path left unsuppressed a hard bounce or complaint that counted nothing (after a
Reject, or for an address with no ledger row); the one-at-a-time path suppressed it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from herald_analytics.events.batch import BatchIngestor
from herald_analytics.events.batch_store import CountingStore
from herald_analytics.events.ledger import DeliveryLedger
from herald_analytics.events.parse import parse_event
from herald_analytics.events.repository import CampaignCounters, EventLog, SuppressionList
from herald_analytics.events.service import EventInFlight, EventIngestor
from tests.analytics.conftest import ses_event

if TYPE_CHECKING:
    from herald_analytics.events.schemas import CampaignRef, SesEvent

pytestmark = pytest.mark.timeout(120)

RECIPIENTS = ("ada@example.com", "bob@example.com", "cy@example.com")
STRANGER = "stranger@example.com"  # tagged with the campaign, but not one of its recipients (no ledger row)
ADDRESSES = (*RECIPIENTS, STRANGER)
# The ledger's outcome attributes (transitions.py); the paths' own bookkeeping (versions, event ids) may differ.
OUTCOME_ATTRIBUTES = (
    "delivery",
    "deliveredAt",
    "complainedAt",
    "delayedAt",
    "openedAt",
    "machineOpenedAt",
    "clickedAt",
)
# Every kind of SES event analytics counts, with the details that change what it does. Two different events of
# one message never share SES's feedbackId (it is in the event id, the dedupe key), so each bounce has its own.
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "send": ("Send", {}),
    "delivery": ("Delivery", {}),
    "hard-bounce": ("Bounce", {"feedbackId": "0100-bounce-permanent"}),
    "soft-bounce": (
        "Bounce",
        {"bounceType": "Transient", "bounceSubType": "MailboxFull", "feedbackId": "0100-bounce-transient"},
    ),
    "complaint": ("Complaint", {}),
    "delay": ("DeliveryDelay", {}),
    "reject": ("Reject", {}),
    "click": ("Click", {}),
    # Two seconds after the Delivery, from Apple's proxy: a machine's prefetch (opens.py) when the Delivery came first.
    "prefetch-open": ("Open", {"timestamp": "2024-01-15T10:30:04.000Z", "userAgent": "Mozilla/5.0"}),
    "human-open": ("Open", {"timestamp": "2024-01-15T11:00:00.000Z", "userAgent": "Thunderbird/115.0"}),
    "second-human-open": ("Open", {"timestamp": "2024-01-15T12:00:00.000Z", "userAgent": "Thunderbird/115.0"}),
}


@dataclass(frozen=True)
class Event:
    """One SES event, independent of the campaign it is published for."""

    kind: str
    recipient: int

    def document(self, tenant: str, campaign: str) -> dict[str, Any]:
        event_type, detail = KINDS[self.kind]
        email = ADDRESSES[self.recipient]
        # A message id per path: the events table is shared, and the event id is derived from it.
        message_id = f"msg-{tenant}-{self.recipient}"
        return ses_event(event_type, recipient=email, message_id=message_id, tenant=tenant, campaign=campaign, **detail)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[int]]:
    """(the events in the order SQS hands them over, the sizes of the batches the consumer receives)."""
    events = st.builds(Event, kind=st.sampled_from(sorted(KINDS)), recipient=st.integers(0, len(ADDRESSES) - 1))
    published = draw(st.lists(events, min_size=1, max_size=8, unique=True))
    redelivered = draw(st.lists(st.sampled_from(published), max_size=5))
    order = draw(st.permutations(published + redelivered))
    cuts = draw(st.lists(st.integers(1, 10), min_size=len(order), max_size=len(order)))
    return order, cuts


class _Updates:
    def touched(self, ref: CampaignRef) -> None:
        pass


class _Clock:
    def __call__(self) -> float:
        return 1_705_314_600.0  # 2024-01-15T10:30:00Z, the events' day


async def _seed(harness: Any, tenant: str, campaign: str) -> None:
    names, db = harness.settings.resources, harness.dynamodb
    await db.put_item(
        TableName=names.campaigns_table,
        Item={
            "tenantId": {"S": tenant},
            "campaignId": {"S": campaign},
            "status": {"S": "sending"},
            "updatedAt": {"S": "2024-01-15T10:00:00.000Z"},
            "recipientCount": {"N": str(len(RECIPIENTS))},
            "sentCount": {"N": str(len(RECIPIENTS))},
        },
    )
    for index, email in enumerate(RECIPIENTS):
        await db.put_item(
            TableName=names.ledger_table,
            Item={
                "campaignKey": {"S": f"{tenant}#{campaign}"},
                "email": {"S": email},
                "state": {"S": "sent"},
                "messageId": {"S": f"msg-{tenant}-{index}"},
                "batchId": {"S": "batch_000001"},
                "sentAt": {"S": "2024-01-15T10:30:00.000Z"},
            },
        )


async def _outcome(harness: Any, tenant: str, campaign: str) -> dict[str, Any]:
    """What the events left: counters, each recipient's ledger outcome and suppression."""
    names, db = harness.settings.resources, harness.dynamodb
    item = (
        await db.get_item(
            TableName=names.campaigns_table,
            Key={"tenantId": {"S": tenant}, "campaignId": {"S": campaign}},
            ConsistentRead=True,
        )
    )["Item"]
    counters = {k: int(v["N"]) for k, v in item.items() if k.endswith("Count") and "N" in v}
    rows, suppressed = {}, {}
    for email in RECIPIENTS:
        row = (
            await db.get_item(
                TableName=names.ledger_table,
                Key={"campaignKey": {"S": f"{tenant}#{campaign}"}, "email": {"S": email}},
                ConsistentRead=True,
            )
        )["Item"]
        rows[email] = {k: row[k]["S"] for k in OUTCOME_ATTRIBUTES if k in row}
    for email in ADDRESSES:
        suppression = await db.get_item(
            TableName=names.suppressions_table,
            Key={"tenantId": {"S": tenant}, "email": {"S": email}},
            ConsistentRead=True,
        )
        suppressed[email] = suppression.get("Item", {}).get("reason", {}).get("S")
    return {"counters": counters, "rows": rows, "suppressed": suppressed}


def _ingestors(harness: Any) -> tuple[EventIngestor, BatchIngestor]:
    names, db = harness.settings.resources, harness.dynamodb
    single = EventIngestor(
        events=EventLog(db, names.events_table, lease_seconds=60, ttl_seconds=3600),
        ledger=DeliveryLedger(db, names.ledger_table),
        counters=CampaignCounters(db, names.campaigns_table),
        suppressions=SuppressionList(db, names.suppressions_table),
        updates=_Updates(),
        clock=_Clock(),
    )
    store = CountingStore(
        db,
        events_table=names.events_table,
        ledger_table=names.ledger_table,
        campaigns_table=names.campaigns_table,
        suppressions_table=names.suppressions_table,
        ttl_seconds=3600,
    )
    return single, BatchIngestor(single, DeliveryLedger(db, names.ledger_table), store)


def _parsed(events: list[Event], tenant: str, campaign: str) -> list[SesEvent]:
    parsed = [parse_event(e.document(tenant, campaign)) for e in events]
    assert all(p is not None for p in parsed)
    return [p for p in parsed if p is not None]


# A fixed, bounded set of examples (derandomize): the same ones on every run, about 20 s against the emulator. No
# shrinking: against the emulator it takes minutes, and the failing example is printed (`note`) as it is.
@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example uses its own tenants and campaign
)
@given(delivery=deliveries())
async def test_both_paths_count_any_order_and_redelivery_the_same(harness, delivery) -> None:
    order, cuts = delivery
    note(f"events in order: {[(e.kind, ADDRESSES[e.recipient]) for e in order]}; batch sizes: {cuts}")
    campaign = "camp_" + secrets.token_hex(10)
    one_tenant, batch_tenant = "one" + secrets.token_hex(4), "bat" + secrets.token_hex(4)
    await _seed(harness, one_tenant, campaign)
    await _seed(harness, batch_tenant, campaign)
    single, batch = _ingestors(harness)

    for event in _parsed(order, one_tenant, campaign):
        await single.ingest(event)

    # The consumer's receives, in order; a message whose event came back with an error (another handler of the
    # batch held it: EventInFlight) is received again later, as SQS redelivers it. Two deliveries of one event
    # are the same event, so where the redelivery lands cannot change its outcome.
    pending = _parsed(order, batch_tenant, campaign)
    for size in [*cuts, *[len(order)] * 3]:
        chunk, pending = pending[:size], pending[size:]
        if chunk:
            errors = await batch.ingest_many(chunk)
            assert all(isinstance(e, EventInFlight) for e in errors if e is not None), errors
            pending += [event for event, error in zip(chunk, errors, strict=True) if error is not None]
    assert not pending, f"{len(pending)} events never counted"

    one_at_a_time = await _outcome(harness, one_tenant, campaign)
    batched = await _outcome(harness, batch_tenant, campaign)
    assert batched == one_at_a_time
