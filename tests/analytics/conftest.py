"""Analytics test helpers: SES events in SES's exact shapes, and a running analytics app against the emulator."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest

from herald_analytics.app import create_app
from herald_analytics.config import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from fastapi import FastAPI

    from herald_common.aws import AwsClients
    from herald_common.provisioning import Provisioned
    from herald_common.settings import HeraldSettings

TENANT = "acme"
CAMPAIGN = "camp_0123456789abcdefghij"
SES_TIMESTAMP = "2024-01-15T10:30:00.000Z"

_DETAILS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "Send": ("send", lambda r: {}),
    "Delivery": (
        "delivery",
        lambda r: {
            "timestamp": "2024-01-15T10:30:02.000Z",
            "processingTimeMillis": 546,
            "recipients": [r],
            "smtpResponse": "250 ok",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
    ),
    "Bounce": (
        "bounce",
        lambda r: {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": r, "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1"}
            ],
            "timestamp": "2024-01-15T10:30:03.000Z",
            "feedbackId": "0100-bounce-feedback-000000",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
    ),
    "Complaint": (
        "complaint",
        lambda r: {
            "complainedRecipients": [{"emailAddress": r}],
            "timestamp": "2024-01-15T10:31:00.000Z",
            "feedbackId": "0100-complaint-feedback-000000",
            "userAgent": "Mozilla/5.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2024-01-15T10:30:59.000Z",
        },
    ),
    "Reject": ("reject", lambda r: {"reason": "Bad content"}),
    "DeliveryDelay": (
        "deliveryDelay",
        lambda r: {
            "timestamp": "2024-01-15T10:40:00.000Z",
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2024-01-15T22:30:00.000Z",
            "delayedRecipients": [{"emailAddress": r, "status": "4.4.1", "diagnosticCode": "smtp; 421 4.4.1"}],
        },
    ),
    "Rendering Failure": (
        "failure",
        lambda r: {"templateName": "t", "errorMessage": "Attribute 'name' is not present in the rendering data."},
    ),
    "Open": (
        "open",
        lambda r: {"timestamp": "2024-01-15T11:00:00.000Z", "userAgent": "Mozilla/5.0", "ipAddress": "192.0.2.1"},
    ),
    "Click": (
        "click",
        lambda r: {
            "timestamp": "2024-01-15T11:01:00.000Z",
            "ipAddress": "192.0.2.1",
            "userAgent": "Mozilla/5.0",
            "link": "https://example.com/offer",
            "linkTags": {},
        },
    ),
    "Subscription": (
        "subscription",
        lambda r: {
            "contactList": "list",
            "timestamp": "2024-01-15T11:02:00.000Z",
            "source": "UnsubscribeHeader",
            "newTopicPreferences": {"unsubscribeAll": True},
            "oldTopicPreferences": {"unsubscribeAll": False},
        },
    ),
}
EVENT_TYPES = tuple(_DETAILS)


def ses_event(
    event_type: str = "Delivery",
    *,
    recipient: str = "ada@example.com",
    message_id: str = "010001234567890a-11111111-2222-3333-4444-555555555555-000000",
    tenant: str | None = TENANT,
    campaign: str | None = CAMPAIGN,
    tags: bool = True,
    headers: bool = True,
    test: bool = False,
    notification: bool = False,
    **detail: Any,
) -> dict[str, Any]:
    """An SES event in event-publishing form (`eventType`), or in identity-notification form (no tags)."""
    key, build = _DETAILS[event_type]
    mail: dict[str, Any] = {
        "timestamp": SES_TIMESTAMP,
        "source": "news@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": [recipient],
        "headersTruncated": False,
        "commonHeaders": {"from": ["news@example.com"], "to": [recipient], "subject": "Hello"},
    }
    if headers:
        mail["headers"] = [
            {"name": "From", "value": "news@example.com"},
            {"name": "To", "value": recipient},
            *([{"name": "X-Herald-Tenant", "value": tenant}] if tenant else []),
            *([{"name": "X-Herald-Campaign", "value": campaign}] if campaign else []),
            {"name": "X-Herald-Recipient", "value": recipient},
            {"name": "X-Herald-Attempt", "value": "1"},
        ]
    if tags and not notification:
        mail["tags"] = {
            "ses:configuration-set": ["herald-events"],
            "ses:source-ip": ["192.0.2.10"],
            **({"herald-tenant": [tenant]} if tenant else {}),
            **({"herald-campaign": [campaign]} if campaign else {}),
            "herald-batch": ["batch_000001"],
            **({"herald-test": ["true"]} if test else {}),
        }
    body = build(recipient) | detail
    if notification:
        return {"notificationType": event_type, "mail": mail, key: body}
    return {"eventType": event_type, "mail": mail, key: body}


def sns_envelope(event: dict[str, Any]) -> str:
    """SNS's envelope around an SES event, as SQS receives it (RawMessageDelivery false)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "6b0f4b5c-0000-4000-8000-000000000000",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:herald-ses-events",
            "Message": json.dumps(event),
            "Timestamp": "2024-01-15T10:30:02.100Z",
            "SignatureVersion": "1",
            "Signature": "c2lnbmF0dXJl",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """`make_event("Bounce", recipient=..., bounceType="Transient")`: an SES event (see `ses_event`)."""
    return ses_event


@pytest.fixture
def envelope() -> Callable[[dict[str, Any]], str]:
    return sns_envelope


class Harness:
    """The analytics app against the emulator, with one seeded campaign of tenant `acme`."""

    def __init__(self, settings: Settings, aws: AwsClients, provisioned: Provisioned) -> None:
        self.settings = settings
        self.aws = aws
        self.provisioned = provisioned
        self.dynamodb = aws.require_dynamodb()

    @asynccontextmanager
    async def running(self, settings: Settings | None = None) -> AsyncIterator[FastAPI]:
        """The analytics app with its lifespan running (the SES-events consumer included)."""
        app = create_app(settings or self.settings)
        async with app.router.lifespan_context(app):
            yield app

    async def seed_campaign(self, campaign: str = CAMPAIGN, **counts: int) -> None:
        item: dict[str, Any] = {
            "tenantId": {"S": TENANT},
            "campaignId": {"S": campaign},
            "status": {"S": "sending"},
            "updatedAt": {"S": "2024-01-15T10:00:00.000Z"},
        }
        item |= {name: {"N": str(value)} for name, value in counts.items()}
        await self.dynamodb.put_item(TableName=self.settings.resources.campaigns_table, Item=item)

    async def seed_ledger(self, *emails: str, campaign: str = CAMPAIGN) -> None:
        for email in emails:
            await self.dynamodb.put_item(
                TableName=self.settings.resources.ledger_table,
                Item={
                    "campaignKey": {"S": f"{TENANT}#{campaign}"},
                    "email": {"S": email},
                    "state": {"S": "sent"},
                    "messageId": {"S": f"msg-{email}"},
                    "batchId": {"S": "batch_000001"},
                },
            )

    async def campaign(self, campaign: str = CAMPAIGN) -> dict[str, Any]:
        response = await self.dynamodb.get_item(
            TableName=self.settings.resources.campaigns_table,
            Key={"tenantId": {"S": TENANT}, "campaignId": {"S": campaign}},
            ConsistentRead=True,
        )
        return {k: int(v["N"]) if "N" in v else v.get("S") for k, v in response["Item"].items()}

    async def ledger(self, email: str, campaign: str = CAMPAIGN) -> dict[str, Any]:
        response = await self.dynamodb.get_item(
            TableName=self.settings.resources.ledger_table,
            Key={"campaignKey": {"S": f"{TENANT}#{campaign}"}, "email": {"S": email}},
            ConsistentRead=True,
        )
        return {k: v.get("S", v.get("N")) for k, v in response.get("Item", {}).items()}

    async def suppression(self, email: str) -> dict[str, Any] | None:
        response = await self.dynamodb.get_item(
            TableName=self.settings.resources.suppressions_table,
            Key={"tenantId": {"S": TENANT}, "email": {"S": email}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return {k: v["S"] for k, v in item.items()} if item else None

    async def publish(self, *events: dict[str, Any]) -> None:
        """Publish SES events to the SES-events SNS topic, as SES does."""
        for event in events:
            await self.aws.require_sns().publish(
                TopicArn=self.provisioned.ses_events_topic_arn, Message=json.dumps(event)
            )

    async def drained(self, queue_url: str | None = None, timeout: float = 10.0) -> None:
        """Wait until the queue holds no message, visible or in flight (every handler has finished)."""
        url = queue_url or self.provisioned.ses_events_queue_url
        names: list[Any] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        deadline = time.monotonic() + timeout
        while True:
            response = await self.aws.require_sqs().get_queue_attributes(QueueUrl=url, AttributeNames=names)
            attrs = response["Attributes"]
            if all(attrs.get(n) == "0" for n in names):
                return
            assert time.monotonic() < deadline, f"queue not drained: {attrs}"
            await asyncio.sleep(0.05)


@pytest.fixture
def harness(herald_settings: HeraldSettings, aws: AwsClients, provisioned: Provisioned) -> Harness:
    settings = Settings(
        resource_prefix=herald_settings.resource_prefix,
        aws_endpoint_url=herald_settings.aws_endpoint_url,
        analytics_update_window_seconds=0.05,
        stream_poll_interval=0.1,
    )
    return Harness(settings, aws, provisioned)
