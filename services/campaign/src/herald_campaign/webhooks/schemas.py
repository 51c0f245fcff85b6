"""`/webhooks`: what an endpoint subscribes to, what is shown of it, and its delivery log."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WebhookEventType(StrEnum):
    EMAIL_SENT = "email.sent"
    EMAIL_DELIVERED = "email.delivered"
    EMAIL_BOUNCED = "email.bounced"
    EMAIL_COMPLAINED = "email.complained"
    EMAIL_OPENED = "email.opened"
    EMAIL_CLICKED = "email.clicked"
    EMAIL_FAILED = "email.failed"
    EMAIL_UNKNOWN = "email.unknown"
    CAMPAIGN_STATUS = "campaign.status"
    REPUTATION_WARNING = "reputation.warning"


_VIEW: dict[str, Any] = {
    "webhookId": "wh_3f9a0c2b7d1e4a5b6c7d",
    "url": "https://hooks.example.com/herald",
    "events": ["email.bounced", "email.delivered"],
    "status": "active",
    "disabledReason": None,
    "createdAt": "2026-12-01T10:00:00Z",
}


class WebhookCreate(BaseModel):
    """An endpoint: an https URL (http and loopback allowed in dev) and the event types it gets."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://hooks.example.com/herald", "events": ["email.delivered", "email.bounced"]}]
        },
    )

    url: str = Field(min_length=8, max_length=2048)
    events: list[WebhookEventType] = Field(min_length=1, max_length=len(WebhookEventType))

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[WebhookEventType]) -> list[WebhookEventType]:
        return list(dict.fromkeys(events))


class WebhookView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_VIEW]})

    webhookId: str
    url: str
    events: list[WebhookEventType]
    status: str  # `active`, or `disabled` after 24 h of failed deliveries
    disabledReason: str | None = None
    createdAt: str


class WebhookCreated(WebhookView):
    """The new endpoint with its signing secret, shown this once."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_VIEW | {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw5yA+Rk4Xyzs="}]}
    )

    secret: str


class WebhookList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"webhooks": [_VIEW]}]})

    webhooks: list[WebhookView]


class DeliveryView(BaseModel):
    """One event's delivery to the endpoint: `pending` (being retried), `delivered` or `failed` (gave up)."""

    eventId: str
    type: WebhookEventType
    status: str
    attempts: int
    lastStatusCode: int | None = None
    lastError: str | None = None
    createdAt: str
    nextAttemptAt: str | None = None
    deliveredAt: str | None = None


_DELIVERY: dict[str, Any] = {
    "eventId": "9b1d6f0c3e8a4b2d7f5e1a0c9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
    "type": "email.delivered",
    "status": "delivered",
    "attempts": 2,
    "lastStatusCode": 204,
    "lastError": None,
    "createdAt": "2026-12-01T10:00:03Z",
    "nextAttemptAt": None,
    "deliveredAt": "2026-12-01T10:00:34Z",
}


class DeliveryList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"deliveries": [_DELIVERY]}]})

    deliveries: list[DeliveryView]
