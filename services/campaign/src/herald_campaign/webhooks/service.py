"""Registering webhook endpoints: URL checks, the signing secret, the tenant's list and each endpoint's log."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from herald_campaign.webhooks.repository import Webhook
from herald_campaign.webhooks.schemas import (
    DeliveryList,
    DeliveryView,
    WebhookCreate,
    WebhookCreated,
    WebhookEventType,
    WebhookList,
    WebhookView,
)
from herald_campaign.webhooks.urls import check_url
from herald_common.errors import NotFound

if TYPE_CHECKING:
    from herald_campaign.webhooks.repository import Delivery, DeliveryLog, WebhookStore

SECRET_BYTES = 32  # Standard Webhooks: secrets of 24 to 64 bytes
DELIVERY_PAGE = 100


class WebhookNotFound(NotFound):
    code = "WebhookNotFound"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _view(webhook: Webhook) -> WebhookView:
    return WebhookView(
        webhookId=webhook.webhook_id,
        url=webhook.url,
        events=[WebhookEventType(e) for e in webhook.events],
        status=webhook.status,
        disabledReason=webhook.disabled_reason,
        createdAt=webhook.created_at,
    )


def _delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        eventId=delivery.event_id,
        type=WebhookEventType(delivery.type),
        status=delivery.status,
        attempts=delivery.attempts,
        lastStatusCode=delivery.last_status_code,
        lastError=delivery.last_error,
        createdAt=delivery.created_at,
        nextAttemptAt=datetime.fromtimestamp(delivery.next_attempt_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if delivery.next_attempt_at
        else None,
        deliveredAt=delivery.delivered_at,
    )


class WebhookService:
    def __init__(self, webhooks: WebhookStore, deliveries: DeliveryLog, *, allow_loopback: bool) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._allow_loopback = allow_loopback

    async def create(self, tenant_id: str, request: WebhookCreate) -> WebhookCreated:
        """A new endpoint; 422 `WebhookUrlRefused` for a URL it may not call (no SSRF)."""
        await check_url(request.url, allow_loopback=self._allow_loopback)
        webhook = Webhook(
            tenant_id=tenant_id,
            webhook_id="wh_" + secrets.token_hex(10),
            url=request.url,
            events=tuple(sorted(e.value for e in request.events)),
            secret=new_secret(),
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        await self._webhooks.put(webhook)
        return WebhookCreated(**_view(webhook).model_dump(), secret=webhook.secret)

    async def list(self, tenant_id: str) -> WebhookList:
        webhooks = sorted(await self._webhooks.list(tenant_id), key=lambda w: w.created_at)
        return WebhookList(webhooks=[_view(w) for w in webhooks])

    async def delete(self, tenant_id: str, webhook_id: str) -> None:
        if not await self._webhooks.delete(tenant_id, webhook_id):
            raise WebhookNotFound(f"Webhook {webhook_id} does not exist.")

    async def deliveries(self, tenant_id: str, webhook_id: str) -> DeliveryList:
        """The endpoint's deliveries (up to 100, newest first)."""
        if await self._webhooks.get(tenant_id, webhook_id) is None:
            raise WebhookNotFound(f"Webhook {webhook_id} does not exist.")
        rows = await self._deliveries.list(tenant_id, webhook_id, DELIVERY_PAGE)
        rows.sort(key=lambda d: (d.created_at, d.event_id), reverse=True)
        return DeliveryList(deliveries=[_delivery_view(d) for d in rows])
