"""Analytics forwards counted SES events to the webhooks queue, for tenants with an active endpoint only, each body
exactly as SNS delivered it; the webhooks consumer reads it as it read its own subscription's copy; a forwarding that
failed leaves the message to be handled again, counted once. Against the emulator, endpoints written by the campaign
service's own code."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_analytics.events.parse import parse_message
from herald_analytics.events.webhook_relay import (
    ACTIVE_WEBHOOKS_CACHE_SECONDS,
    WebhookEndpoints,
    WebhookRelay,
)
from herald_campaign.webhooks.delivery import DeliveryPolicy, WebhookDispatcher
from herald_campaign.webhooks.repository import DeliveryLog, Webhook, WebhookStore
from herald_campaign.webhooks.service import new_secret
from herald_campaign.webhooks.status import CampaignStatusLog, StatusMove
from herald_common.sqs import SqsMessage
from tests.analytics.conftest import CAMPAIGN, TENANT, sns_envelope

if TYPE_CHECKING:
    from tests.analytics.conftest import Harness

pytestmark = pytest.mark.timeout(120)

ADA = "ada@example.com"
OTHER = "globex"  # a tenant with no endpoint


def _store(harness: Harness) -> WebhookStore:
    return WebhookStore(harness.dynamodb, harness.settings.resources.webhooks_table)


async def _add_endpoint(harness: Harness, tenant: str, webhook_id: str, events: tuple[str, ...]) -> str:
    secret = new_secret()
    endpoint = Webhook(tenant, webhook_id, "http://127.0.0.1:9/hook", events, secret, "2026-12-01T00:00:00Z")
    await _store(harness).put(endpoint)
    return secret


async def _queue_url(harness: Harness, name: str) -> str:
    return (await harness.aws.require_sqs().get_queue_url(QueueName=name))["QueueUrl"]


async def _take_all(harness: Harness, queue_url: str, wait: float = 1.0) -> list[str]:
    """Every message body the queue holds (each received once), until it stays empty for `wait` seconds."""
    bodies: list[str] = []
    quiet_until = time.monotonic() + wait
    while time.monotonic() < quiet_until:
        response = await harness.aws.require_sqs().receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
        )
        got = [m["Body"] for m in response.get("Messages", [])]
        bodies += got
        if got:
            quiet_until = time.monotonic() + wait
        else:
            await asyncio.sleep(0.05)
    return bodies


def _ses_events(harness: Harness, bodies: list[str]) -> list[str]:
    """The bodies from the SES events topic (the webhooks queue also hears the campaign-updates topic)."""
    topic = harness.provisioned.ses_events_topic_arn
    return [b for b in bodies if json.loads(b).get("TopicArn") == topic]


def _dispatcher(harness: Harness, received: list[httpx.Request], queue_url: str) -> WebhookDispatcher:
    names, db = harness.settings.resources, harness.dynamodb

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    return WebhookDispatcher(
        _store(harness),
        DeliveryLog(db, names.webhook_deliveries_table),
        httpx.AsyncClient(transport=httpx.MockTransport(receive)),
        harness.aws.require_sqs(),
        queue_url,
        DeliveryPolicy(allow_loopback=True),
        CampaignStatusLog(db, names.webhooks_table),
    )


async def test_an_event_of_a_tenant_with_an_endpoint_reaches_the_webhooks_queue_as_sns_delivered_it(
    harness, make_event
):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    await _add_endpoint(harness, TENANT, "wh_0001", ("email.delivered",))
    delivery = make_event("Delivery", recipient=ADA, message_id="m-ada")
    await harness.publish(
        delivery,
        make_event("Delivery", recipient="bo@example.org", tenant=OTHER, message_id="m-other"),
        make_event("Delivery", recipient="cy@example.com", test=True, message_id="m-test"),  # a test send
    )
    # What SNS delivered to analytics' queue, read before analytics starts (and made visible again for it).
    sqs = harness.aws.require_sqs()
    arrived: dict[str, str] = {}
    deadline = time.monotonic() + 10
    while len(arrived) < 3:
        assert time.monotonic() < deadline, arrived
        response = await sqs.receive_message(QueueUrl=harness.provisioned.ses_events_queue_url, MaxNumberOfMessages=10)
        for message in response.get("Messages", []):
            arrived[message["Body"]] = message["ReceiptHandle"]
    for handle in arrived.values():
        await sqs.change_message_visibility(
            QueueUrl=harness.provisioned.ses_events_queue_url, ReceiptHandle=handle, VisibilityTimeout=0
        )
    (ours,) = [b for b in arrived if json.loads(json.loads(b)["Message"])["mail"]["messageId"] == "m-ada"]

    async with harness.running():
        await harness.drained()
    webhooks_url = await _queue_url(harness, harness.settings.resources.webhooks_queue)
    forwarded = _ses_events(harness, await _take_all(harness, webhooks_url))

    # Only the event of the tenant with an endpoint, counted, and byte for byte what SNS delivered.
    assert forwarded == [ours]
    assert (await harness.campaign())["deliveredCount"] == 1
    # The webhooks consumer makes of it the webhook event it made of its own copy: one delivery, analytics' event id,
    # and the same message again (forwarded twice) is not sent twice.
    received: list[httpx.Request] = []
    dispatcher = _dispatcher(harness, received, webhooks_url)
    for _ in range(2):
        await dispatcher(SqsMessage(message_id="m", receipt_handle="r", body=forwarded[0], receive_count=1))
    (request,) = received
    payload = json.loads(request.content)
    event = parse_message(ours)
    assert event is not None
    assert request.headers["webhook-id"] == payload["id"] == event.event_id(ADA)
    assert (payload["type"], payload["tenantId"], payload["campaignId"]) == ("email.delivered", TENANT, CAMPAIGN)
    assert payload["data"]["messageId"] == "m-ada"


async def test_a_failed_forwarding_leaves_the_message_to_be_handled_again_and_counted_once(harness, make_event):
    await harness.seed_campaign(recipientCount=1, sentCount=1)
    await harness.seed_ledger(ADA)
    await _add_endpoint(harness, TENANT, "wh_0001", ("email.delivered",))
    names, sqs = harness.settings.resources, harness.aws.require_sqs()
    webhooks_url = await _queue_url(harness, names.webhooks_queue)
    attributes = (await sqs.get_queue_attributes(QueueUrl=webhooks_url, AttributeNames=["All"]))["Attributes"]
    keep: Any = {k: attributes[k] for k in ("VisibilityTimeout", "RedrivePolicy")}
    events_url = harness.provisioned.ses_events_queue_url
    async with harness.running():
        await sqs.delete_queue(QueueUrl=webhooks_url)  # SendMessageBatch now fails: QueueDoesNotExist
        await harness.publish(make_event("Delivery", recipient=ADA, message_id="m-ada"))
        deadline = time.monotonic() + 20
        while "deliveredCount" not in await harness.campaign():
            assert time.monotonic() < deadline, "the event was not counted"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a handling or two more, each failing to forward
        depth = (
            await sqs.get_queue_attributes(
                QueueUrl=events_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )
        )["Attributes"]
        assert sum(int(v) for v in depth.values()) == 1  # counted, yet not deleted: it is retried
        again = await sqs.create_queue(QueueName=names.webhooks_queue, Attributes=keep)
        assert again["QueueUrl"] == webhooks_url  # the URL analytics holds works again
        await harness.drained(timeout=30)  # retried (backoff of a second or two) until forwarded, then deleted
    forwarded = _ses_events(harness, await _take_all(harness, webhooks_url))
    assert [json.loads(json.loads(b)["Message"])["mail"]["messageId"] for b in forwarded] == ["m-ada"]
    assert (await harness.campaign())["deliveredCount"] == 1  # handled several times, counted once


async def test_a_tenant_counts_as_having_a_webhook_while_an_active_endpoint_exists(harness):
    now = [1000.0]
    endpoints = WebhookEndpoints(harness.dynamodb, harness.settings.resources.webhooks_table, clock=lambda: now[0])
    store = _store(harness)
    # The campaign service keeps its per-campaign status items in the same partition: they are no endpoint.
    move = StatusMove(TENANT, CAMPAIGN, 1, "sending", "draft", None, "2026-12-01T00:00:00Z")
    await CampaignStatusLog(harness.dynamodb, harness.settings.resources.webhooks_table).record(move)
    assert await endpoints.has_active(TENANT) is False

    await _add_endpoint(harness, TENANT, "wh_0001", ("email.bounced",))
    now[0] += ACTIVE_WEBHOOKS_CACHE_SECONDS - 0.1
    assert await endpoints.has_active(TENANT) is False  # the answer read before it was created, still cached
    now[0] += 0.1
    assert await endpoints.has_active(TENANT) is True  # within the cache delay of its creation
    assert await endpoints.has_active(OTHER) is False

    await store.disable(TENANT, "wh_0001", "manual", "2026-12-01T00:00:00Z")
    now[0] += ACTIVE_WEBHOOKS_CACHE_SECONDS
    assert await endpoints.has_active(TENANT) is False  # disabled is not active
    await _add_endpoint(harness, TENANT, "wh_0002", ("email.bounced",))
    now[0] += ACTIVE_WEBHOOKS_CACHE_SECONDS
    assert await endpoints.has_active(TENANT) is True
    await store.delete(TENANT, "wh_0002")
    now[0] += ACTIVE_WEBHOOKS_CACHE_SECONDS
    assert await endpoints.has_active(TENANT) is False


async def test_the_relay_sends_in_batches_sqs_accepts_only_what_tenants_with_endpoints_want(harness, make_event):
    await _add_endpoint(harness, TENANT, "wh_0001", ("email.delivered",))
    webhooks_url = await _queue_url(harness, harness.settings.resources.webhooks_queue)
    relay = WebhookRelay(
        WebhookEndpoints(harness.dynamodb, harness.settings.resources.webhooks_table),
        harness.aws.require_sqs(),
        webhooks_url,
    )
    ours = [sns_envelope(make_event("Delivery", recipient=f"r{i}@example.com", message_id=f"m{i}")) for i in range(23)]
    theirs = [sns_envelope(make_event("Delivery", tenant=OTHER, message_id=f"o{i}")) for i in range(2)]
    messages = [(OTHER, theirs[0]), *((TENANT, body) for body in ours), (OTHER, theirs[1])]

    assert await relay.forward(messages) == [None] * len(messages)
    forwarded = await _take_all(harness, webhooks_url)
    assert sorted(forwarded) == sorted(ours)  # 23 in three calls of at most 10 (SQS refuses more)
