"""Statistics for one campaign, now and as they change."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_analytics.errors import CampaignNotFound
from herald_analytics.stats.schemas import CampaignStats, compute_stats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = structlog.get_logger("herald.analytics")


class CampaignSource(Protocol):
    async def get(self, tenant_id: str, campaign_id: str) -> dict[str, Any] | None:
        """The campaign item as plain values, or None when the tenant has no such campaign."""


class StatsService:
    def __init__(self, campaigns: CampaignSource, *, poll_interval: float) -> None:
        self._campaigns = campaigns
        self._poll_interval = poll_interval

    async def get_stats(self, tenant_id: str, campaign_id: str) -> CampaignStats:
        """The campaign's statistics; another tenant's campaign is as unknown as a missing one."""
        item = await self._campaigns.get(tenant_id, campaign_id)
        if item is None:
            raise CampaignNotFound(f"Campaign {campaign_id} does not exist.")
        return compute_stats(item)

    async def watch(self, tenant_id: str, campaign_id: str, first: CampaignStats) -> AsyncIterator[CampaignStats]:
        """`first`, then every change of the statistics until the campaign disappears.

        Polling the item (every `poll_interval`) rather than listening to this replica's consumer makes a stream
        see every change, whichever replica (or the processor) wrote it.
        """
        last = first
        yield first
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                item = await self._campaigns.get(tenant_id, campaign_id)
            except (ClientError, BotoCoreError) as exc:
                # A passing DynamoDB error must not end a stream a dashboard depends on: try again next tick.
                log.warning("analytics.stream_read_failed", tenantId=tenant_id, campaignId=campaign_id, error=str(exc))
                continue
            if item is None:
                return
            stats = compute_stats(item)
            if stats != last:
                last = stats
                yield stats
