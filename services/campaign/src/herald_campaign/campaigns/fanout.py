"""The fan-out: a campaign's stored recipients, cut into batches of `batchSize`, queued on email-jobs.

It runs after the 202 (the answer never waits for it), in a background task the app keeps and awaits at shutdown.
It holds a lease on the campaign and records how many batches it queued, so if its process dies another instance's
scheduler resumes it where it stopped; batch ids are positions, so a resumed fan-out queues the same batches.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from herald_campaign.campaigns.job_queue import job_message
from herald_campaign.campaigns.models import Campaign, CampaignStatus, iso, utc_now
from herald_campaign.campaigns.rules import abatched

if TYPE_CHECKING:
    from herald_campaign.campaigns.ports import FanoutStore, JobQueue, RecipientStore, RetryResumption

log = structlog.get_logger("herald.campaign.fanout")

# Batches queued between two lease renewals (one SendMessageBatch holds at most 10 messages).
BATCHES_PER_HEARTBEAT = 10
# A fan-out started by `POST /send` waits this long first, so the 202 is written before the fan-out's reading and
# parsing competes with it for the event loop (the answer time must not grow with the campaign's size).
FANOUT_START_DELAY_SECONDS = 0.05
_STOP_STATUSES = frozenset({CampaignStatus.CANCELLED, CampaignStatus.FAILED})


class FanoutRunner:
    def __init__(
        self,
        *,
        recipients: RecipientStore,
        queue: JobQueue,
        store: FanoutStore,
        owner: str,
        lease_seconds: int,
        default_batch_size: int,
    ) -> None:
        self._recipients = recipients
        self._queue = queue
        self._store = store
        self.owner = owner
        self._lease_seconds = lease_seconds
        self._default_batch_size = default_batch_size

    def lease_until(self) -> int:
        return int(time.time()) + self._lease_seconds

    async def run(self, c: Campaign) -> None:
        """Queue every batch not queued yet, then mark the fan-out done. Stops early on cancel, failure or a lost
        lease (each checked after every SendMessageBatch group)."""
        size = c.batch_size or self._default_batch_size
        stream = self._recipients.iter_recipients(c.tenant_id, c.campaign_id, c.recipient_parts)
        pending: list[tuple[str, str]] = []
        last = 0
        async for position, recipients in abatched(stream, size):
            last = position
            if position <= c.fanout_queued:  # queued before a takeover
                continue
            pending.append(job_message(c, position, recipients))
            if len(pending) == BATCHES_PER_HEARTBEAT:
                if not await self._flush(c, pending, position):
                    return
                pending = []
        if pending and not await self._flush(c, pending, last):
            return
        if await self._store.finish(c, owner=self.owner, batch_count=last, now=iso(utc_now())):
            log.info("campaign.fanout_done", batches=last, recipients=c.recipient_count)

    async def _flush(self, c: Campaign, messages: list[tuple[str, str]], queued: int) -> bool:
        await self._queue.send(messages, c.priority)
        status = await self._store.heartbeat(c, owner=self.owner, queued=queued, lease_until=self.lease_until())
        if status is None:
            log.warning("campaign.fanout_lease_lost", queued=queued)
            return False
        if status in _STOP_STATUSES:
            log.info("campaign.fanout_stopped", status=status.value, queued=queued)
            return False
        return True


class FanoutSupervisor:
    """Keeps the running fan-out tasks; at shutdown lets them finish within a grace period, then cancels them."""

    def __init__(self, runner: FanoutRunner, store: FanoutStore) -> None:
        self._runner = runner
        self._store = store
        self.tasks: set[asyncio.Task[None]] = set()
        self._running: set[tuple[str, str]] = set()

    def start(self, c: Campaign) -> None:
        key = (c.tenant_id, c.campaign_id)
        if key in self._running:
            return
        self._running.add(key)
        task = asyncio.create_task(self._run(c), name=f"fanout-{c.campaign_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: self._running.discard(key))

    async def _run(self, c: Campaign) -> None:
        structlog.contextvars.bind_contextvars(tenantId=c.tenant_id, campaignId=c.campaign_id)
        try:
            await asyncio.sleep(FANOUT_START_DELAY_SECONDS)
            log.info("campaign.fanout_started", resumeAfter=c.fanout_queued)
            await self._runner.run(c)
        except asyncio.CancelledError:
            await self._store.release(c, owner=self._runner.owner)
            raise
        except Exception as exc:
            log.exception("campaign.fanout_failed")
            await self._store.fail(c, reason=f"Queueing the batches failed: {exc}", now=iso(utc_now()))

    async def shutdown(self, grace_seconds: float) -> None:
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class Scheduler:
    """Every few seconds: start due scheduled campaigns, resume fan-outs whose owner stopped renewing its lease, and
    (with `retries`) resume retry-failed runs likewise."""

    def __init__(
        self,
        store: FanoutStore,
        supervisor: FanoutSupervisor,
        runner: FanoutRunner,
        interval: float,
        *,
        retries: RetryResumption | None = None,
    ) -> None:
        self._store = store
        self._supervisor = supervisor
        self._runner = runner
        self._interval = interval
        self._retries = retries

    async def tick(self) -> int:
        """One pass; the number of fan-outs it started."""
        now = utc_now()
        started = 0
        for due in await self._store.find_due(now=iso(now), epoch=int(now.timestamp())):
            lease = self._runner.lease_until()
            if due.status is CampaignStatus.SCHEDULED:
                claimed = await self._store.claim_scheduled(
                    due, owner=self._runner.owner, lease_until=lease, now=iso(now)
                )
            else:
                claimed = await self._store.claim_abandoned(due, owner=self._runner.owner, lease_until=lease)
            if claimed is not None:
                log.info("campaign.fanout_claimed", campaignId=due.campaign_id, was=due.status.value)
                self._supervisor.start(claimed)
                started += 1
        if self._retries is not None:
            started += await self._retries.tick()
        return started

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("campaign.scheduler_error")
            await asyncio.sleep(self._interval)
