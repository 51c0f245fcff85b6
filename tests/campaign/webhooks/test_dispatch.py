"""The dispatcher against the emulator (DynamoDB, SQS), with the receiver stood in by httpx.MockTransport: retries
under one id, the 24 h window ending in a disabled endpoint, dedupe of a repeated SES event, campaign.status moves
(announced, and read from statistics), the processor's failed and unknown settlements."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from standardwebhooks.webhooks import Webhook as Verifier

from herald_analytics.events.updates import CampaignUpdatePublisher, update_message
from herald_campaign.webhooks.delivery import ATTEMPT_KIND, DeliveryPolicy, WebhookDispatcher
from herald_campaign.webhooks.repository import DeliveryLog, Webhook, WebhookStore
from herald_campaign.webhooks.service import DELIVERY_PAGE, WebhookService, new_secret
from herald_campaign.webhooks.status import CampaignStatusLog
from herald_common.announcements import encode, settled_message, status_message
from herald_common.sqs import SqsMessage
from tests.analytics.conftest import ses_event, sns_envelope

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

HOUR = 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _message(body: str) -> SqsMessage:
    return SqsMessage(message_id="m", receipt_handle="r", body=body, receive_count=1)


async def _world(herald_settings: HeraldSettings, aws: AwsClients, answer: int, events: tuple[str, ...]) -> Any:
    names = herald_settings.resources
    webhooks = WebhookStore(aws.require_dynamodb(), names.webhooks_table)
    deliveries = DeliveryLog(aws.require_dynamodb(), names.webhook_deliveries_table)
    secret = new_secret()
    await webhooks.put(Webhook("acme", "wh_0001", "http://127.0.0.1:9/h", events, secret, "2026-12-01T00:00:00Z"))
    received: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(answer)

    queue_url = (await aws.require_sqs().get_queue_url(QueueName=names.webhooks_queue))["QueueUrl"]
    clock = Clock()
    dispatcher = WebhookDispatcher(
        webhooks,
        deliveries,
        httpx.AsyncClient(transport=httpx.MockTransport(receive)),
        aws.require_sqs(),
        queue_url,
        DeliveryPolicy(allow_loopback=True, retry_base_seconds=30, retry_window_seconds=24 * HOUR),
        CampaignStatusLog(aws.require_dynamodb(), names.webhooks_table),
        clock=clock,
    )
    return dispatcher, webhooks, deliveries, received, clock, secret, queue_url


async def test_a_failing_endpoint_is_retried_under_one_id_then_disabled(herald_settings, provisioned, aws):
    dispatcher, webhooks, deliveries, received, clock, secret, _ = await _world(
        herald_settings, aws, 500, ("email.delivered",)
    )
    body = sns_envelope(ses_event("Delivery"))
    await dispatcher(_message(body))
    await dispatcher(_message(body))  # SNS delivering the same event again: not sent again
    assert len(received) == 1
    (event_id,) = {r.headers["webhook-id"] for r in received}
    due = {"kind": ATTEMPT_KIND, "tenantId": "acme", "webhookId": "wh_0001", "eventId": event_id}
    while (delivery := await deliveries.get("acme", "wh_0001", event_id)) and delivery.status == "pending":
        assert delivery.next_attempt_at is not None
        clock.now = delivery.next_attempt_at
        await dispatcher(_message(json.dumps(due)))
        assert len(received) < 60

    assert delivery is not None
    assert delivery.status == "failed"
    assert {r.headers["webhook-id"] for r in received} == {event_id}
    assert {r.content for r in received} == {received[0].content}
    # Signed afresh at each attempt (its own timestamp), always over the same id and body.
    # (The test's clock is a day ahead of the verifier's tolerance window, so the signature is recomputed here.)
    last = received[-1]
    stamp = datetime.fromtimestamp(int(last.headers["webhook-timestamp"]), UTC)
    assert last.headers["webhook-signature"] == Verifier(secret).sign(event_id, stamp, last.content)
    assert int(last.headers["webhook-timestamp"]) == int(clock.now)
    assert 25 <= delivery.attempts <= 35  # exponential, at most an hour apart, over 24 h
    assert clock.now - 1_800_000_000 <= 24 * HOUR
    webhook = await webhooks.get("acme", "wh_0001")
    assert webhook is not None
    assert webhook.status == "disabled"
    assert "HTTP 500" in (webhook.disabled_reason or "")


async def test_a_disabled_or_deleted_endpoint_gets_nothing(herald_settings, provisioned, aws):
    dispatcher, webhooks, _, received, *_ = await _world(herald_settings, aws, 204, ("email.delivered",))
    await webhooks.disable("acme", "wh_0001", "manual", "2026-12-01T00:00:00Z")
    await dispatcher(_message(sns_envelope(ses_event("Delivery"))))
    await dispatcher(_message(sns_envelope(ses_event("Bounce"))))  # not subscribed anyway
    assert received == []


CAMPAIGN = "camp_0123456789abcdefghij"


def _envelope(document: dict[str, Any]) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "x", "Message": json.dumps(document)})


def _move(version: int, status: str, previous: str | None, reason: str | None = None) -> str:
    """A writer's announcement of move `version` (herald_common.announcements)."""
    return encode(
        status_message(
            tenant_id="acme",
            campaign_id=CAMPAIGN,
            status=status,
            previous_status=previous,
            status_reason=reason,
            status_version=version,
            at="2026-12-01T10:00:00Z",
        )
    )


def _stats(version: int | None, status: str) -> str:
    """Analytics' statistics announcement, as it publishes it (herald_analytics.events.updates)."""
    return _envelope(
        json.loads(update_message("acme", CAMPAIGN, {"campaignId": CAMPAIGN, "status": status, "sent": 1}, version))
    )


async def test_every_announced_status_move_is_delivered_once_with_an_id_of_its_own(herald_settings, provisioned, aws):
    dispatcher, _, _, received, *_ = await _world(herald_settings, aws, 204, ("campaign.status",))
    moves = [
        _move(1, "sending", "draft"),
        _move(2, "paused", "sending", "Paused by ada"),
        _move(2, "paused", "sending", "Paused by ada"),  # the same announcement delivered twice
        _move(4, "cancelled", "sending", "Cancelled by ada"),  # ahead of move 3 (queues do not keep order)
        _move(3, "sending", "paused"),
    ]
    for body in moves:
        await dispatcher(_message(body))

    payloads = [json.loads(r.content) for r in received]
    assert [(p["data"]["statusVersion"], p["data"]["status"], p["data"]["previousStatus"]) for p in payloads] == [
        (1, "sending", "draft"), (2, "paused", "sending"), (4, "cancelled", "sending"), (3, "sending", "paused"),
    ]  # fmt: skip
    assert payloads[1]["data"]["statusReason"] == "Paused by ada"
    assert len({p["id"] for p in payloads}) == 4
    assert {p["type"] for p in payloads} == {"campaign.status"}


async def test_statistics_report_a_move_nobody_announced_once_and_never_an_old_one(herald_settings, provisioned, aws):
    dispatcher, _, _, received, *_ = await _world(herald_settings, aws, 204, ("campaign.status",))
    await dispatcher(_message(_move(1, "sending", "draft")))
    await dispatcher(_message(_stats(1, "sending")))  # seen already
    await dispatcher(_message(_stats(2, "sent")))  # its writer's announcement was lost
    await dispatcher(_message(_stats(2, "sent")))  # the next statistics of the same campaign
    await dispatcher(_message(_move(2, "sent", "sending")))  # the lost announcement turns up after all: same id
    await dispatcher(_message(_stats(1, "sending")))  # statistics read before move 2, arriving late
    await dispatcher(_message(_stats(None, "sending")))  # a campaign no move numbered: nothing to report

    payloads = [json.loads(r.content) for r in received]
    assert [(p["data"]["statusVersion"], p["data"]["status"], p["data"]["previousStatus"]) for p in payloads] == [
        (1, "sending", "draft"), (2, "sent", "sending"),
    ]  # fmt: skip


def _settled(state: str, attempt: int, retry_call: int | None = None, reason: str = "render_error") -> str:
    message = settled_message(
        tenant_id="acme",
        campaign_id=CAMPAIGN,
        email="ada@example.com",
        state=state,
        attempt=attempt,
        retry_call=retry_call,
        reason=reason,
        message_id=None,
        at="2026-12-01T10:00:00Z",
    )
    return _envelope(message)


async def test_settlements_the_processor_announces_become_failed_and_unknown_events(herald_settings, provisioned, aws):
    dispatcher, _, _, received, *_ = await _world(herald_settings, aws, 204, ("email.failed", "email.unknown"))
    await dispatcher(_message(_settled("failed", 0)))
    await dispatcher(_message(_settled("failed", 0)))  # announced again (the batch handled again after a crash)
    await dispatcher(_message(_settled("failed", 0, retry_call=1)))  # failed again after retry-failed call 1
    await dispatcher(_message(_settled("unknown", 2, reason="lease_expired")))
    await dispatcher(_message(_settled("cancelled", 1)))  # not an event of the contract

    payloads = [json.loads(r.content) for r in received]
    assert [(p["type"], p["data"]["email"], p["data"]["reason"]) for p in payloads] == [
        ("email.failed", "ada@example.com", "render_error"),
        ("email.failed", "ada@example.com", "render_error"),
        ("email.unknown", "ada@example.com", "lease_expired"),
    ]
    assert len({p["id"] for p in payloads}) == 3
    assert {(p["tenantId"], p["campaignId"]) for p in payloads} == {("acme", CAMPAIGN)}


async def test_the_delivery_log_shows_the_newest_deliveries_first(herald_settings, provisioned, aws):
    dispatcher, webhooks, deliveries, received, clock, *_ = await _world(herald_settings, aws, 204, ("email.failed",))
    for attempt in range(DELIVERY_PAGE + 5):  # a minute apart; their ids (hashes) sort in no such order
        clock.now += 60
        await dispatcher(_message(_settled("failed", attempt)))
    assert len(received) == DELIVERY_PAGE + 5

    log = (await WebhookService(webhooks, deliveries, allow_loopback=True).deliveries("acme", "wh_0001")).deliveries
    sent = [json.loads(r.content)["id"] for r in received]
    assert [d.eventId for d in log] == sent[::-1][:DELIVERY_PAGE]  # the 100 newest, newest first
    assert [d.status for d in log] == ["delivered"] * DELIVERY_PAGE


async def test_a_reputation_warning_reaches_the_endpoints_that_want_it_once(herald_settings, provisioned, aws):
    dispatcher, _, _, received, *_ = await _world(herald_settings, aws, 204, ("reputation.warning",))
    warning = {"scope": "domain:news.example", "window": "1h", "reason": "bounce rate 2.60% (26 of 1000)",
               "at": "2026-12-07T01:00:00Z"}  # fmt: skip
    announcement = {"type": "reputation.warning", "tenantId": "acme", "warning": warning}
    body = json.dumps({"Type": "Notification", "MessageId": "x", "Message": json.dumps(announcement)})
    await dispatcher(_message(body))
    await dispatcher(_message(body))  # SNS delivering it again: one delivery
    other = {"type": "reputation.warning", "tenantId": "globex", "warning": warning}  # no endpoint of globex's
    await dispatcher(_message(json.dumps({"Type": "Notification", "MessageId": "y", "Message": json.dumps(other)})))
    (request,) = received
    payload = json.loads(request.content)
    assert (payload["type"], payload["tenantId"], payload["campaignId"]) == ("reputation.warning", "acme", None)
    assert payload["data"] == warning
    assert request.headers["webhook-id"] == payload["id"]


async def test_an_endpoint_without_reputation_warning_does_not_get_it(herald_settings, provisioned, aws):
    dispatcher, _, _, received, *_ = await _world(herald_settings, aws, 204, ("campaign.status", "email.bounced"))
    announcement = {"type": "reputation.warning", "tenantId": "acme", "warning": {"scope": "tenant", "window": "24h"}}
    await dispatcher(_message(json.dumps(announcement)))
    assert received == []


async def test_analytics_warning_announcement_reaches_the_webhooks_queue_and_its_endpoint(
    herald_settings, provisioned, aws
):
    # analytics' publisher → SNS campaign-updates topic → the webhooks queue → the dispatcher, as deployed
    dispatcher, _, _, received, *_, queue_url = await _world(herald_settings, aws, 204, ("reputation.warning",))
    publisher = CampaignUpdatePublisher(aws.require_sns(), provisioned.campaign_updates_topic_arn, None, window=0)  # type: ignore[arg-type]
    warning = {"scope": "tenant", "window": "24h", "reason": "complaint rate 0.06% (6 of 10000)", "at": "x"}
    await publisher.announce({"type": "reputation.warning", "tenantId": "acme", "warning": warning})
    sqs = aws.require_sqs()
    messages = []
    for _ in range(10):  # long polls; the message is there as soon as SNS delivered it
        answer = await sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
        messages += answer.get("Messages", [])
        if messages:
            break
    assert len(messages) == 1
    await dispatcher(_message(messages[0]["Body"]))
    (request,) = received
    assert json.loads(request.content)["data"] == warning
