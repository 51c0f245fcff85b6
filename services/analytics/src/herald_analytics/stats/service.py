"""Statistics for one campaign, now and as they change."""

from __future__ import annotations

import asyncio
import enum
import time
from typing import TYPE_CHECKING

from herald_analytics.errors import CampaignNotFound
from herald_analytics.stats.schemas import CampaignStats, compute_stats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_analytics.stats.watchers import CampaignSource, CampaignWatchers, Subscription


class StreamEnd(enum.Enum):
    """Why a stream stops on its own: its token's `exp` passed (the client reconnects with a fresh one)."""

    TOKEN_EXPIRED = "token_expired"


class StatsService:
    def __init__(self, campaigns: CampaignSource, watchers: CampaignWatchers) -> None:
        self._campaigns = campaigns
        self._watchers = watchers

    async def get_stats(self, tenant_id: str, campaign_id: str) -> CampaignStats:
        """The campaign's statistics; another tenant's campaign is as unknown as a missing one."""
        item = await self._campaigns.get(tenant_id, campaign_id)
        if item is None:
            raise CampaignNotFound(f"Campaign {campaign_id} does not exist.")
        return compute_stats(item)

    def subscribe(self, tenant_id: str, campaign_id: str, first: CampaignStats) -> Subscription:
        """A place at the campaign's shared watcher; `TooManyStreams` (429) over the tenant's limit."""
        return self._watchers.subscribe(tenant_id, campaign_id, first)

    async def watch(
        self, subscription: Subscription, first: CampaignStats, *, until: float | None
    ) -> AsyncIterator[CampaignStats | StreamEnd]:
        """`first`, then every change of the statistics, until the campaign disappears or, at `until` (the token's
        `exp`, seconds since the epoch), `StreamEnd.TOKEN_EXPIRED`: a stream never outlives the token that opened
        it. The subscription is closed however the stream ends."""
        try:
            last = first
            yield first
            while True:
                remaining = None if until is None else until - time.time()
                if remaining is not None and remaining <= 0:
                    yield StreamEnd.TOKEN_EXPIRED
                    return
                try:
                    async with asyncio.timeout(remaining):
                        stats = await subscription.updates.get()
                except TimeoutError:
                    continue  # the deadline: answered at the top of the loop
                if stats is None:
                    return
                if stats != last:
                    last = stats
                    yield stats
        finally:
            subscription.close()
