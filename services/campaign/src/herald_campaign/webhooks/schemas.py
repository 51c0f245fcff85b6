"""`/webhooks`: what an endpoint subscribes to, what is shown of it, and its delivery log."""

from __future__ import annotations

from enum import StrEnum

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


class WebhookCreate(BaseModel):
    """An endpoint: an https URL (http and loopback allowed in dev) and the event types it gets."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048)
    events: list[WebhookEventType] = Field(min_length=1, max_length=len(WebhookEventType))

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[WebhookEventType]) -> list[WebhookEventType]:
        return list(dict.fromkeys(events))


class WebhookView(BaseModel):
    webhookId: str
    url: str
    events: list[WebhookEventType]
    status: str  # `active`, or `disabled` after 24 h of failed deliveries
    disabledReason: str | None = None
    createdAt: str


class WebhookCreated(WebhookView):
    """The new endpoint with its signing secret, shown this once."""

    secret: str


class WebhookList(BaseModel):
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


class DeliveryList(BaseModel):
    deliveries: list[DeliveryView]
