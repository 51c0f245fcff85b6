"""retry-failed, crash-safe: a durable run record, a marked ledger, deterministic batches and a checkpoint.

1. `start` numbers the call and records it on the campaign (`retryRun`, with a lease) before the ledger is touched.
2. Reset: each retryable `failed` ledger entry goes back to `pending`, marked `retryCall = n` in the same write.
   Resumable: entries still `failed` are reset by whoever resumes, entries already reset are not touched again.
3. Queue: the recipients marked `n` (read back from the ledger, not from memory), in the order of the stored
   recipient list, cut into batches `retry_<n>_000001`…; `retryQueued` is the checkpoint, renewed with the lease
   after every SendMessageBatch group, so a resumed run queues the batches not queued yet, with the same ids (a
   group sent just before a crash may be queued twice: the processor's ledger makes the copy send nothing).
4. `finish` removes the record. A run whose instance died is found by the scheduler once its lease ran out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from herald_campaign.campaigns.intake import AddressSet, address_key
from herald_campaign.campaigns.job_queue import job_message
from herald_campaign.campaigns.models import iso, utc_now
from herald_campaign.campaigns.rules import abatched, is_retryable_failure, retry_batch_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_campaign.campaigns.intake import Recipient
    from herald_campaign.campaigns.models import Campaign
    from herald_campaign.campaigns.ports import CampaignStore, JobQueue, Ledger, RecipientStore, RetryStore
    from herald_campaign.campaigns.retry_store import RetryRun

log = structlog.get_logger("herald.campaign.retry")

# Failed ledger entries reset per ledger call (the ledger cuts them into transactions of 99); the lease is renewed
# after each chunk.
RETRY_RESET_CHUNK = 495
# Batches queued between two checkpoints (one SendMessageBatch holds at most 10 messages).
BATCHES_PER_CHECKPOINT = 10


@dataclass(frozen=True)
class RetryOutcome:
    call: int
    requeued: int  # recipients this call put back to `pending` (marked `retryCall = call`)
    batches: int


class RetryLeaseLost(RuntimeError):
    """Another instance took the run over (this one was too slow to renew its lease)."""


class RetryRunner:
    def __init__(
        self,
        *,
        store: RetryStore,
        campaigns: CampaignStore,
        ledger: Ledger,
        recipients: RecipientStore,
        queue: JobQueue,
        owner: str,
        lease_seconds: int,
        default_batch_size: int,
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._ledger = ledger
        self._recipients = recipients
        self._queue = queue
        self.owner = owner
        self._lease_seconds = lease_seconds
        self._default_batch_size = default_batch_size

    def lease_until(self) -> int:
        return int(time.time()) + self._lease_seconds

    async def run(self, run: RetryRun) -> RetryOutcome | None:
        """Finish the run from where it stands; None when the campaign is gone. Raises RetryLeaseLost."""
        c = await self._campaigns.get(run.tenant_id, run.campaign_id)
        if c is None:
            return None
        structlog.contextvars.bind_contextvars(tenantId=c.tenant_id, campaignId=c.campaign_id)
        if run.queued is None:
            await self._reset(c, run)
            await self._beat(run, queued=0)
        keys = AddressSet()
        async for email in self._ledger.marked(c.tenant_id, c.campaign_id, run.call):
            keys.add(email)
        if len(keys) and await self._campaigns.reopen(c.tenant_id, c.campaign_id, iso(utc_now())):
            log.info("campaign.reopened", call=run.call)
        batches = await self._queue_marked(c, run, keys) if len(keys) else 0
        if not await self._store.finish(run, owner=self.owner, now=iso(utc_now())):
            raise RetryLeaseLost(f"retry {run.call} of {c.campaign_id} was taken over")
        log.info("campaign.retry_failed", call=run.call, requeued=len(keys), batches=batches)
        return RetryOutcome(call=run.call, requeued=len(keys), batches=batches)

    async def _beat(self, run: RetryRun, *, queued: int | None) -> None:
        if not await self._store.heartbeat(run, owner=self.owner, queued=queued, lease_until=self.lease_until()):
            raise RetryLeaseLost(f"retry {run.call} of {run.campaign_id} was taken over")

    async def _reset(self, c: Campaign, run: RetryRun) -> None:
        """failed → pending (marked with the call) for every retryable entry, streamed in chunks."""
        now = iso(utc_now())
        chunk: list[tuple[str, str | None, bool]] = []
        async for entry in self._ledger.failed(c.tenant_id, c.campaign_id):
            if is_retryable_failure(entry[1]):
                chunk.append(entry)
            if len(chunk) >= RETRY_RESET_CHUNK:
                await self._ledger.reset(c.tenant_id, c.campaign_id, chunk, call=run.call, now=now)
                await self._beat(run, queued=None)
                chunk = []
        if chunk:
            await self._ledger.reset(c.tenant_id, c.campaign_id, chunk, call=run.call, now=now)

    async def _queue_marked(self, c: Campaign, run: RetryRun, keys: AddressSet) -> int:
        """Queue the stored recipients whose key is in `keys` (their data comes from the recipient list), skipping
        the batches the checkpoint says are queued already."""
        size = c.batch_size or self._default_batch_size
        done = run.queued or 0

        async def wanted() -> AsyncIterator[Recipient]:
            async for recipient in self._recipients.iter_recipients(c.tenant_id, c.campaign_id, c.recipient_parts):
                if address_key(recipient.email) in keys:
                    yield recipient

        messages: list[tuple[str, str]] = []
        last = 0
        async for position, recipients in abatched(wanted(), size):
            last = position
            if position <= done:
                continue
            messages.append(job_message(c, position, recipients, batch=retry_batch_id(run.call, position)))
            if len(messages) == BATCHES_PER_CHECKPOINT:
                await self._queue.send(messages, c.priority)
                await self._beat(run, queued=position)
                messages = []
        if messages:
            await self._queue.send(messages, c.priority)
            await self._beat(run, queued=last)
        return last


class RetryResumer:
    """Runs taken over by the scheduler, in the background; at shutdown they give their lease up."""

    def __init__(self, runner: RetryRunner, store: RetryStore) -> None:
        self._runner = runner
        self._store = store
        self.tasks: set[asyncio.Task[None]] = set()

    async def tick(self) -> int:
        """Take over every abandoned run; the number taken."""
        taken = 0
        for run in await self._store.find_abandoned(epoch=int(time.time())):
            claimed = await self._store.claim_abandoned(
                run, owner=self._runner.owner, lease_until=self._runner.lease_until()
            )
            if claimed is None:
                continue
            log.info("campaign.retry_resumed", campaignId=run.campaign_id, call=run.call, queued=run.queued)
            task = asyncio.create_task(self._resume(claimed), name=f"retry-{run.campaign_id}-{run.call}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            taken += 1
        return taken

    async def _resume(self, run: RetryRun) -> None:
        try:
            await self._runner.run(run)
        except asyncio.CancelledError:
            await self._store.release(run, owner=self._runner.owner)
            raise
        except Exception:
            # The record stays: once the lease runs out the next scheduler tick (here or elsewhere) tries again.
            log.exception("campaign.retry_resume_failed", campaignId=run.campaign_id, call=run.call)

    async def shutdown(self, grace_seconds: float) -> None:
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
