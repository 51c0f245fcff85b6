"""Handing counted SES events to the campaign service's webhooks (docs/architecture.md, SQS `{prefix}-webhooks`).

The webhooks queue is not subscribed to the SES events topic: most tenants have no webhook, and receiving, parsing
and dropping every event of every tenant would cost the campaign service more CPU per email than the rest of its work
(docs/performance.md). Analytics reads every event anyway, so once a batch is counted it puts on the webhooks queue
the messages of the tenants that have an active endpoint, bodies unchanged: the SNS envelope as SNS delivered it,
which is what the webhooks consumer reads (herald_campaign.webhooks.events).

At least once, as SNS delivers: a message whose forwarding failed is not deleted, so it is handled again (counting it
again changes nothing: each SES event is counted once however often it arrives) and forwarded again; the webhooks
consumer sends an event once per endpoint however often it arrives (`{prefix}-webhook-deliveries`).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog

from herald_common.sqs import SQS_MAX_BATCH_BYTES, group_messages

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("herald.analytics")

# The campaign service re-reads a tenant's endpoints at most this often (herald_campaign.webhooks.delivery,
# ENDPOINTS_CACHE_SECONDS); analytics' view of who has one is as fresh. Both caches were filled before an endpoint
# was created, so both have expired this long after it: the tenant's events reach it within about 5 s (README).
ACTIVE_WEBHOOKS_CACHE_SECONDS = 5.0
# The campaign service's endpoint items in `{prefix}-webhooks` (`wh_…`); the same partition holds its per-campaign
# `status#…` items, which are not endpoints (docs/architecture.md).
WEBHOOK_ID_PREFIX = "wh_"
# Forgotten tenants are pruned past this many cached ones (a tenant costs one entry while it sends).
_CACHE_PRUNE_AT = 4096


class WebhookEndpoints:
    """Whether a tenant has an active endpoint, read from the campaign service's `{prefix}-webhooks` table.

    One Query of the tenant's `wh_…` items, cached per tenant: the endpoints themselves are the source of truth, so
    nothing else has to be kept in step with them (a marker item the campaign service maintained would be a second
    copy to keep right on create, disable and delete), and a tenant's endpoints are a handful of small items.
    """

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        cache_seconds: float = ACTIVE_WEBHOOKS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, bool]] = {}

    async def has_active(self, tenant_id: str) -> bool:
        """True when the tenant has at least one `active` endpoint (as of at most `cache_seconds` ago)."""
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        active = await self._read(tenant_id)
        if len(self._cache) >= _CACHE_PRUNE_AT:
            self._cache = {t: entry for t, entry in self._cache.items() if entry[0] > now}
        self._cache[tenant_id] = (now + self._cache_seconds, active)
        return active

    async def _read(self, tenant_id: str) -> bool:
        # An endpoint without `status` is active, as the campaign service reads it.
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "tenantId = :t AND begins_with(webhookId, :wh)",
            "FilterExpression": "attribute_not_exists(#s) OR #s = :active",
            "ProjectionExpression": "webhookId",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":t": {"S": tenant_id},
                ":wh": {"S": WEBHOOK_ID_PREFIX},
                ":active": {"S": "active"},
            },
        }
        while True:
            page = await self._db.query(**query)
            if page.get("Items"):
                return True
            if "LastEvaluatedKey" not in page:
                return False
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class WebhookForwardFailed(Exception):
    """SQS refused one message of a SendMessageBatch (its `Failed` entry)."""


class WebhookRelay:
    """Puts counted events' messages of tenants with an active endpoint on the webhooks queue."""

    def __init__(self, endpoints: WebhookEndpoints, sqs: SQSClient, queue_url: str) -> None:
        self._endpoints = endpoints
        self._sqs = sqs
        self._queue_url = queue_url

    async def forward(self, messages: Sequence[tuple[str, str]]) -> list[BaseException | None]:
        """(tenant id, SQS body) per counted message → None when forwarded or not wanted, else why it failed (its
        message is then retried)."""
        results: list[BaseException | None] = [None] * len(messages)
        tenants = list(dict.fromkeys(tenant for tenant, _ in messages))
        answers = await asyncio.gather(*(self._endpoints.has_active(t) for t in tenants), return_exceptions=True)
        wanted = dict(zip(tenants, answers, strict=True))
        chosen: list[tuple[str, str]] = []  # (position, body) of the messages to forward
        for position, (tenant, body) in enumerate(messages):
            answer = wanted[tenant]
            if isinstance(answer, BaseException):  # unknown: retry rather than lose the tenant's event
                results[position] = answer
            elif answer and (size := len(body.encode())) > SQS_MAX_BATCH_BYTES:
                # SNS delivered it, but SQS would refuse it every time: retrying cannot help.
                log.warning("analytics.webhook_event_too_large", tenantId=tenant, bytes=size)
            elif answer:
                chosen.append((str(position), body))
        batches = list(group_messages(chosen))
        sent = await asyncio.gather(*(self._send(batch) for batch in batches), return_exceptions=True)
        for batch, outcome in zip(batches, sent, strict=True):
            failures = (
                dict.fromkeys((int(p) for p, _ in batch), outcome) if isinstance(outcome, BaseException) else outcome
            )
            for position, error in failures.items():
                results[position] = error
                log.warning("analytics.webhook_forward_failed", tenantId=messages[position][0], error=str(error))
        return results

    async def _send(self, batch: list[tuple[str, str]]) -> dict[int, BaseException]:
        """One SendMessageBatch of (position, body) entries; the positions SQS refused."""
        response = await self._sqs.send_message_batch(
            QueueUrl=self._queue_url, Entries=[{"Id": position, "MessageBody": body} for position, body in batch]
        )
        return {
            int(failed["Id"]): WebhookForwardFailed(f"{failed.get('Code')}: {failed.get('Message', '')}")
            for failed in response.get("Failed", [])
        }
