"""Webhook events from SES events: the type, the payload, and the event id analytics' dedupe record uses.

The SES events reach the webhooks queue from analytics, once counted and only for tenants with an active endpoint:
each message exactly as SNS delivered it to analytics' queue (herald_analytics.events.webhook_relay), so a slow
receiver never holds up counting. The id is the one analytics stores in `{prefix}-events` (sha256 of
`eventType|messageId|recipient|feedbackId or timestamp|link`, docs/architecture.md): the same SES event always gets
the same id, however often SNS delivers it, so a receiver can drop repeats (tests check both agree).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from herald_campaign.webhooks.schemas import WebhookEventType

# SES event type → webhook event type. Send is `email.sent`; a Reject or RenderingFailure ends the message: failed.
SES_TYPES = {
    "Send": WebhookEventType.EMAIL_SENT,
    "Delivery": WebhookEventType.EMAIL_DELIVERED,
    "Bounce": WebhookEventType.EMAIL_BOUNCED,
    "Complaint": WebhookEventType.EMAIL_COMPLAINED,
    "Open": WebhookEventType.EMAIL_OPENED,
    "Click": WebhookEventType.EMAIL_CLICKED,
    "Reject": WebhookEventType.EMAIL_FAILED,
    "Rendering Failure": WebhookEventType.EMAIL_FAILED,
}
_DETAIL_KEYS = {
    "Send": "send", "Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint", "Open": "open",
    "Click": "click", "Reject": "reject", "Rendering Failure": "failure",
}  # fmt: skip
_RECIPIENT_LISTS = {"Bounce": "bouncedRecipients", "Complaint": "complainedRecipients"}
# What of the SES detail a receiver gets in `data`, besides email and messageId.
_DATA_FIELDS = ("bounceType", "bounceSubType", "complaintFeedbackType", "link", "userAgent", "reason", "errorMessage")


@dataclass(frozen=True)
class EmailEvent:
    event_id: str
    type: WebhookEventType
    created_at: str
    tenant_id: str
    campaign_id: str
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        """The delivery body (SPEC "Webhooks")."""
        return {
            "id": self.event_id,
            "type": self.type.value,
            "createdAt": self.created_at,
            "tenantId": self.tenant_id,
            "campaignId": self.campaign_id or None,  # None: an event about the tenant (reputation.warning)
            "data": self.data,
        }


def _tag(mail: dict[str, Any], name: str) -> str | None:
    value = (mail.get("tags") or {}).get(name)
    value = value[0] if isinstance(value, list) and value else value
    return value if isinstance(value, str) and value else None


def _header(mail: dict[str, Any], name: str) -> str | None:
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name.lower():
            return str(header.get("value", "")).strip() or None
    return None


def _recipients(kind: str, detail: dict[str, Any], mail: dict[str, Any]) -> list[str]:
    listed: list[Any] = list(detail.get("recipients") or []) if kind == "Delivery" else []
    if kind in _RECIPIENT_LISTS:
        listed = [r.get("emailAddress") for r in detail.get(_RECIPIENT_LISTS[kind]) or [] if isinstance(r, dict)]
    found = [str(r).strip().lower() for r in listed if isinstance(r, str) and "@" in r]
    if not found and (hinted := _header(mail, "X-Herald-Recipient")):
        found = [hinted.lower()]
    if not found:
        found = [str(r).strip().lower() for r in mail.get("destination") or [] if isinstance(r, str)]
    return list(dict.fromkeys(found))


def event_id(kind: str, message_id: str, recipient: str, feedback_id: str | None, timestamp: str, link: str) -> str:
    parts = (kind, message_id, recipient, feedback_id or timestamp, link)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def email_events(body: str) -> list[EmailEvent]:
    """The webhook events of one SES-events queue message (SNS envelope or raw); none for a test send, an event
    type no webhook carries, or a message that is not a Herald campaign's."""
    document = json.loads(body)
    if isinstance(document, dict) and document.get("Type") == "Notification":
        document = json.loads(document.get("Message") or "{}")
    if not isinstance(document, dict):
        return []
    kind = document.get("eventType") or document.get("notificationType")
    mail = document.get("mail") or {}
    if kind not in SES_TYPES or not isinstance(mail, dict):
        return []
    tenant = _tag(mail, "herald-tenant") or _header(mail, "X-Herald-Tenant")
    campaign = _tag(mail, "herald-campaign") or _header(mail, "X-Herald-Campaign")
    test = (_tag(mail, "herald-test") or _header(mail, "X-Herald-Test") or "").lower() == "true"
    if not tenant or not campaign or test:
        return []
    detail = document.get(_DETAIL_KEYS[kind]) or {}
    detail = detail if isinstance(detail, dict) else {}
    message_id = str(mail.get("messageId", ""))
    timestamp = str(detail.get("timestamp") or mail.get("timestamp") or "")
    feedback = detail.get("feedbackId") if isinstance(detail.get("feedbackId"), str) else None
    link = str(detail["link"]) if isinstance(detail.get("link"), str) else ""
    extra = {name: detail[name] for name in _DATA_FIELDS if isinstance(detail.get(name), str)}
    return [
        EmailEvent(
            event_id=event_id(kind, message_id, email, feedback, timestamp, link),
            type=SES_TYPES[kind],
            created_at=timestamp,
            tenant_id=tenant,
            campaign_id=campaign,
            data={"email": email, "messageId": message_id, **extra},
        )
        for email in _recipients(kind, detail, mail)
    ]
