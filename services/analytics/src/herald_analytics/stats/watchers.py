"""Live streams share their reads: one poll loop per watched campaign per replica, whatever the number of streams.

A stream that read the campaign item every interval itself would make 100 streams on one campaign 100 reads per
interval, a load any viewer could multiply. So the first stream of a (tenant, campaign) starts a watcher that
reads the item once per interval and hands every change to each stream watching it; the last stream to leave stops
it. A stream holds one of its tenant's slots (`max_per_tenant` per replica) from the moment it is admitted until it
closes, for whatever reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_analytics.errors import TooManyStreams
from herald_analytics.stats.schemas import CampaignStats, compute_stats

if TYPE_CHECKING:
    from collections.abc import Callable

log = structlog.get_logger("herald.analytics")

# What a client is told to wait before trying again after a 429 (a stream slot frees when a viewer leaves).
RETRY_AFTER_SECONDS = 5


class CampaignSource(Protocol):
    async def get(self, tenant_id: str, campaign_id: str) -> dict[str, Any] | None:
        """The campaign item as plain values, or None when the tenant has no such campaign."""


class Subscription:
    """One stream's place at a watcher: the latest statistics not yet taken (None: the campaign is gone)."""

    def __init__(self, release: Callable[[Subscription], None]) -> None:
        self.updates: asyncio.Queue[CampaignStats | None] = asyncio.Queue(maxsize=1)
        self._release = release
        self._closed = False

    def offer(self, stats: CampaignStats | None) -> None:
        # Only the newest state matters (each event is the whole statistics object): a slow reader skips stale ones.
        if self.updates.full():
            self.updates.get_nowait()
        self.updates.put_nowait(stats)

    def close(self) -> None:
        """Give the slot back and leave the watcher; safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._release(self)


@dataclass
class _Watcher:
    latest: CampaignStats
    subscribers: set[Subscription] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class CampaignWatchers:
    """The replica's watchers and its per-tenant stream slots."""

    def __init__(self, source: CampaignSource, *, poll_interval: float, max_per_tenant: int) -> None:
        self._source = source
        self._poll_interval = poll_interval
        self._max_per_tenant = max_per_tenant
        self._watchers: dict[tuple[str, str], _Watcher] = {}
        self._open: Counter[str] = Counter()

    def open_streams(self, tenant_id: str) -> int:
        return self._open[tenant_id]

    def watching(self, tenant_id: str, campaign_id: str) -> int:
        watcher = self._watchers.get((tenant_id, campaign_id))
        return len(watcher.subscribers) if watcher else 0

    def subscribe(self, tenant_id: str, campaign_id: str, first: CampaignStats) -> Subscription:
        """A place at the campaign's watcher (started if none runs); `TooManyStreams` when the tenant's slots on this
        replica are all taken."""
        if self._open[tenant_id] >= self._max_per_tenant:
            raise TooManyStreams(
                f"At most {self._max_per_tenant} live streams per tenant at once; close one or try again later.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        key = (tenant_id, campaign_id)
        watcher = self._watchers.get(key)
        if watcher is None or (watcher.task is not None and watcher.task.done()):
            # None yet, or one that stopped (its campaign vanished, or it failed): a new one for this stream.
            watcher = self._watchers[key] = _Watcher(latest=first)
            watcher.task = asyncio.create_task(self._watch(key, watcher), name=f"analytics:watch:{campaign_id}")
        chosen = watcher
        subscription = Subscription(lambda s: self._leave(key, chosen, s))
        watcher.subscribers.add(subscription)
        self._open[tenant_id] += 1
        return subscription

    def _leave(self, key: tuple[str, str], watcher: _Watcher, subscription: Subscription) -> None:
        self._open[key[0]] -= 1
        if self._open[key[0]] <= 0:
            del self._open[key[0]]
        watcher.subscribers.discard(subscription)
        if not watcher.subscribers:
            if self._watchers.get(key) is watcher:
                del self._watchers[key]
            if watcher.task is not None:
                watcher.task.cancel()

    async def _watch(self, key: tuple[str, str], watcher: _Watcher) -> None:
        """Read the item once per interval and hand each change to every subscriber, until none is left. A fault
        other than DynamoDB's ends its streams (their clients reconnect to a new watcher) instead of freezing them."""
        try:
            await self._poll(key, watcher)
        except Exception:
            log.exception("analytics.stream_watcher_failed", tenantId=key[0], campaignId=key[1])
            for subscription in list(watcher.subscribers):
                subscription.offer(None)

    async def _poll(self, key: tuple[str, str], watcher: _Watcher) -> None:
        tenant_id, campaign_id = key
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                item = await self._source.get(tenant_id, campaign_id)
            except (ClientError, BotoCoreError) as exc:
                # A passing DynamoDB error must not end the streams a dashboard depends on: try again next tick.
                log.warning("analytics.stream_read_failed", tenantId=tenant_id, campaignId=campaign_id, error=str(exc))
                continue
            stats = compute_stats(item) if item is not None else None
            if stats is None or stats != watcher.latest:
                if stats is not None:
                    watcher.latest = stats
                for subscription in list(watcher.subscribers):
                    subscription.offer(stats)
            if stats is None:
                return

    async def close(self) -> None:
        """Stop every watcher (shutdown); their streams see the campaign as gone and end."""
        for watcher in list(self._watchers.values()):
            for subscription in list(watcher.subscribers):
                subscription.offer(None)
            if watcher.task is not None:
                watcher.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher.task
