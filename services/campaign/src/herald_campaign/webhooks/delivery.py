"""Delivering webhook events: fan-out of events to the endpoints that want them, signed POSTs, and retries.

Where it runs: the campaign service consumes `{prefix}-webhooks` with the kit's `SqsPoller`. The queue is subscribed
to the campaign-updates topic; analytics forwards to it the SES events of tenants with an active endpoint, once
counted, each in the SNS envelope it arrived in. Events come from SES's events (events.py) and from announcements of
what SES does not report: status moves and the processor's `failed` / `unknown` settlements (status.py). For each
event of a Herald campaign, each active endpoint of the tenant that subscribed to its type gets a delivery record
(conditional on its absence: an event delivered twice, by SNS or by analytics handling it again, is sent once) and a
first attempt at once. A non-2xx answer, a timeout or a refused address schedules the next
attempt on the same queue (`{"kind": "webhook.attempt", …}`, `DelaySeconds` up to SQS's 900, re-queued until due)
after `retry_backoff(n)`; every attempt carries the same body and `webhook-id` (the event id). Once the next attempt
would fall more than the retry window (24 h) after the first, the delivery is `failed` and the endpoint is disabled
with the reason; its deliveries after that are `failed` at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from standardwebhooks.webhooks import Webhook as Signer

from herald_campaign.webhooks.events import EmailEvent, email_events
from herald_campaign.webhooks.repository import Delivery, DeliveryLog, Webhook, WebhookStore, payload_json
from herald_campaign.webhooks.reputation import reputation_warning
from herald_campaign.webhooks.status import CampaignStatusLog, opened, settlement, stats_move, status_move
from herald_campaign.webhooks.urls import WebhookUrlRefused, check_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_aiobotocore_sqs import SQSClient

    from herald_common.sqs import SqsMessage

log = structlog.get_logger("herald.campaign")

ATTEMPT_KIND = "webhook.attempt"
SQS_MAX_DELAY_SECONDS = 900  # SQS: DelaySeconds is at most 15 minutes
MAX_BACKOFF_SECONDS = 3600
ENDPOINTS_CACHE_SECONDS = 5.0
_ERROR_TEXT = 300  # what of a receiver's error is kept in the log


def retry_backoff(attempts: int, base: float) -> int:
    """Seconds before attempt `attempts + 1`: base, 2 base, 4 base, … at most an hour (with base 30 s: about 30
    attempts in 24 h)."""
    return int(min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


@dataclass(frozen=True)
class DeliveryPolicy:
    allow_loopback: bool  # dev: http and loopback receivers
    retry_base_seconds: float = 30.0
    retry_window_seconds: int = 24 * 3600
    timeout_seconds: float = 10.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WebhookDispatcher:
    """The `{prefix}-webhooks` queue's handler (module docstring)."""

    def __init__(
        self,
        webhooks: WebhookStore,
        deliveries: DeliveryLog,
        http: httpx.AsyncClient,
        sqs: SQSClient,
        queue_url: str,
        policy: DeliveryPolicy,
        statuses: CampaignStatusLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._statuses = statuses
        self._cache: dict[str, tuple[float, list[Webhook]]] = {}
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._http = http
        self._sqs = sqs
        self._queue_url = queue_url
        self._policy = policy
        self._clock = clock

    async def __call__(self, message: SqsMessage) -> None:
        document = opened(message.body)
        if isinstance(document, dict) and document.get("kind") == ATTEMPT_KIND:
            await self._due(str(document["tenantId"]), str(document["webhookId"]), str(document["eventId"]))
            return
        if (warning := reputation_warning(document)) is not None:
            await self.fan_out(warning)
            return
        if (settled := settlement(document)) is not None:
            await self.fan_out(settled)
            return
        if (move := status_move(document)) is not None:
            # A move its writer announced is reported whatever was seen before (one id per move: never twice).
            if self._statuses is not None:
                await self._statuses.record(move)
            await self.fan_out(move.event())
            return
        if (read := stats_move(document, _iso(self._clock()))) is not None:
            if self._statuses is not None and (unreported := await self._statuses.unreported(read)) is not None:
                await self.fan_out(unreported.event())
            return
        for event in email_events(message.body):
            await self.fan_out(event)

    async def _endpoints(self, tenant_id: str) -> list[Webhook]:
        """The tenant's endpoints, read at most every `ENDPOINTS_CACHE_SECONDS`: a campaign's events come by the
        thousand, its tenant's endpoints rarely change (a new one is served within that delay)."""
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is None or cached[0] <= now:
            cached = (now + ENDPOINTS_CACHE_SECONDS, await self._webhooks.list(tenant_id))
            self._cache[tenant_id] = cached
        return cached[1]

    async def fan_out(self, event: EmailEvent) -> None:
        for webhook in await self._endpoints(event.tenant_id):
            if webhook.status != "active" or event.type.value not in webhook.events:
                continue
            delivery = Delivery(
                tenant_id=event.tenant_id,
                webhook_id=webhook.webhook_id,
                event_id=event.event_id,
                type=event.type.value,
                body=payload_json(event.payload()),
                created_at=_iso(self._clock()),
                first_attempt_at=int(self._clock()),
            )
            if await self._deliveries.create(delivery):
                await self._attempt(webhook, delivery)

    async def _due(self, tenant_id: str, webhook_id: str, event_id: str) -> None:
        delivery = await self._deliveries.get(tenant_id, webhook_id, event_id)
        if delivery is None or delivery.status != "pending":
            return  # delivered or given up meanwhile (a duplicate attempt message)
        now = self._clock()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + 1:
            await self._schedule(delivery, delivery.next_attempt_at - now)  # longer than SQS can delay at once
            return
        webhook = await self._webhooks.get(tenant_id, webhook_id)
        if webhook is None or webhook.status != "active":
            delivery.status, delivery.next_attempt_at = "failed", None
            delivery.last_error = "The endpoint was deleted or disabled."
            await self._deliveries.record_attempt(delivery)
            return
        await self._attempt(webhook, delivery)

    async def _post(self, webhook: Webhook, delivery: Delivery) -> tuple[int | None, str | None]:
        """(HTTP status, error): one signed POST."""
        try:
            await check_url(webhook.url, allow_loopback=self._policy.allow_loopback)
        except WebhookUrlRefused as exc:
            return None, exc.detail
        now = datetime.fromtimestamp(self._clock(), UTC)
        body = delivery.body.encode()
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Signer(webhook.secret).sign(delivery.event_id, now, body),
            "user-agent": "Herald-Webhooks/1",
        }
        try:
            response = await self._http.post(
                webhook.url, content=body, headers=headers, timeout=self._policy.timeout_seconds
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}: {response.text[:_ERROR_TEXT]}"

    async def _attempt(self, webhook: Webhook, delivery: Delivery) -> None:
        status, error = await self._post(webhook, delivery)
        now = self._clock()
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = status, error
        context: dict[str, Any] = {
            "tenantId": delivery.tenant_id,
            "webhookId": delivery.webhook_id,
            "eventId": delivery.event_id[:16],
            "attempt": delivery.attempts,
        }
        if error is None:
            delivery.status, delivery.next_attempt_at, delivery.delivered_at = "delivered", None, _iso(now)
            await self._deliveries.record_attempt(delivery)
            log.info("campaign.webhook_delivered", status=status, **context)
            return
        delay = retry_backoff(delivery.attempts, self._policy.retry_base_seconds)
        if now + delay - delivery.first_attempt_at > self._policy.retry_window_seconds:
            delivery.status, delivery.next_attempt_at = "failed", None
            await self._deliveries.record_attempt(delivery)
            hours = self._policy.retry_window_seconds / 3600
            reason = f"Deliveries failed for {hours:g} h; the last attempt: {error}"[:_ERROR_TEXT]
            await self._webhooks.disable(delivery.tenant_id, delivery.webhook_id, reason, _iso(now))
            log.warning("campaign.webhook_disabled", reason=reason, **context)
            return
        delivery.next_attempt_at = int(now + delay)
        await self._deliveries.record_attempt(delivery)
        await self._schedule(delivery, delay)
        log.info("campaign.webhook_retry_scheduled", error=error, delaySeconds=delay, **context)

    async def _schedule(self, delivery: Delivery, delay: float) -> None:
        body = {
            "kind": ATTEMPT_KIND,
            "tenantId": delivery.tenant_id,
            "webhookId": delivery.webhook_id,
            "eventId": delivery.event_id,
        }
        await self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(body),
            DelaySeconds=max(0, min(int(delay), SQS_MAX_DELAY_SECONDS)),
        )
