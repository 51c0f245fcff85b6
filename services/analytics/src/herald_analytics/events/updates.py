"""Campaign-update announcements on `{prefix}-campaign-updates` (flow step 22), one per campaign touched.

Counting marks a campaign dirty; a background task waits a short window (the batch the poller is working
through), then reads each dirty campaign once, lets the reputation guard judge it (guard.py) and publishes the
fresh statistics. A lost announcement is harmless: the next change announces the new totals, and streams read the
campaign item themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_analytics.stats.schemas import compute_stats

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from types_aiobotocore_sns import SNSClient

    from herald_analytics.events.schemas import CampaignRef
    from herald_analytics.stats.watchers import CampaignSource

log = structlog.get_logger("herald.analytics")

UPDATE_TYPE = "campaign.stats"


def update_message(tenant_id: str, campaign_id: str, stats: dict[str, object], status_version: object = None) -> str:
    """The campaign-update message body (docs/architecture.md, SNS). `statusVersion` numbers the status moves of the
    campaign (read with `stats.status` from one item): the webhooks report a move nobody announced from it."""
    message: dict[str, object] = {"type": UPDATE_TYPE, "tenantId": tenant_id, "campaignId": campaign_id, "stats": stats}
    if isinstance(status_version, int | float) and not isinstance(status_version, bool):
        message["statusVersion"] = int(status_version)
    return json.dumps(message)


class CampaignUpdatePublisher:
    def __init__(
        self,
        sns: SNSClient,
        topic_arn: str,
        campaigns: CampaignSource,
        *,
        window: float,
        inspect: Callable[[CampaignRef, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self._sns = sns
        self._inspect = inspect
        self._topic_arn = topic_arn
        self._campaigns = campaigns
        self._window = window
        self._dirty: set[CampaignRef] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    async def announce(self, document: dict[str, Any]) -> None:
        """Publish another kind of announcement on the topic (`type` and `tenantId` in `document`): the reputation
        guard's warnings, which the campaign service turns into webhooks."""
        try:
            await self._sns.publish(
                TopicArn=self._topic_arn,
                Message=json.dumps(document),
                MessageAttributes={
                    "type": {"DataType": "String", "StringValue": str(document["type"])},
                    "tenantId": {"DataType": "String", "StringValue": str(document["tenantId"])},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("analytics.announce_failed", type=document["type"], error=str(exc))

    def touched(self, ref: CampaignRef) -> None:
        self._dirty.add(ref)
        self._wake.set()

    def stop(self) -> None:
        """`run` publishes what is pending and returns."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            if not self._stopping and self._window:
                with contextlib.suppress(TimeoutError):  # stop() cuts the window short
                    await asyncio.wait_for(self._until_stopping(), timeout=self._window)
            self._wake.clear()
            await self.flush()

    async def _until_stopping(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def flush(self) -> int:
        """Publish the statistics of every dirty campaign; the number published."""
        dirty, self._dirty = self._dirty, set()
        published = 0
        for ref in dirty:
            try:
                item = await self._campaigns.get(ref.tenant_id, ref.campaign_id)
                if item is None:
                    continue
                if self._inspect is not None:
                    item = await self._inspect(ref, item)
                stats = compute_stats(item).model_dump()
                await self._sns.publish(
                    TopicArn=self._topic_arn,
                    Message=update_message(ref.tenant_id, ref.campaign_id, stats, item.get("statusVersion")),
                    MessageAttributes={
                        "type": {"DataType": "String", "StringValue": UPDATE_TYPE},
                        "tenantId": {"DataType": "String", "StringValue": ref.tenant_id},
                        "campaignId": {"DataType": "String", "StringValue": ref.campaign_id},
                    },
                )
                published += 1
            except (ClientError, BotoCoreError) as exc:
                log.warning(
                    "analytics.update_publish_failed",
                    tenantId=ref.tenant_id,
                    campaignId=ref.campaign_id,
                    error=str(exc),
                )
        return published
