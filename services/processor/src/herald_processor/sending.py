"""The send phase of a batch: claim → build → send → record, for each recipient, with bounded concurrency,
under the rate limits and the batch's time budget, watching the campaign status as it goes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

from herald_common.metrics import EMAILS
from herald_processor.decisions import (
    Gate,
    final_state_for,
    gate_for,
    throttle_backoff_seconds,
    throttled_retry_seconds,
)
from herald_processor.domain import (
    QUOTA_PAUSE_REASON,
    BatchDeferred,
    LedgerState,
    OutgoingEmail,
    SendOutcome,
    SendResult,
)
from herald_processor.mime import Envelope, HeaderInjection, build_message, ses_tags

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from herald_processor.domain import Campaign, RenderedEmail
    from herald_processor.schemas import Address, EmailJob, JobRecipient
    from herald_processor.service import BatchPolicy, Ports

log = structlog.get_logger("herald.processor")


class StopReason(StrEnum):
    PAUSED = "paused"
    CANCELLED = "cancelled"
    THROTTLED = "throttled"
    OUT_OF_TIME = "out_of_time"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class Sendable:
    recipient: JobRecipient
    address: Address
    rendered: RenderedEmail
    unsubscribe_url: str


@dataclass
class SendRun:
    ports: Ports
    policy: BatchPolicy
    job: EmailJob
    campaign: Campaign
    owner: str
    finals: dict[str, LedgerState]
    receive_count: int = 1
    shutting_down: Callable[[], bool] = lambda: False
    stop: StopReason | None = None
    contended: int = 0
    throttled_in_a_row: int = 0
    _untouched: list[Sendable] = field(default_factory=list)
    _deadline: float = 0.0
    _last_check: float = 0.0
    _check_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send_all(self, ready: list[Sendable]) -> None:
        """Send every recipient of `ready` or leave it unclaimed; raises BatchDeferred when some are left."""
        self._deadline = time.monotonic() + self.policy.batch_time_budget
        self._last_check = time.monotonic()
        queue = iter(ready)
        workers = min(self.policy.send_concurrency, len(ready))
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(self._worker(queue))
        if self.stop is StopReason.CANCELLED:
            await self._settle_untouched(LedgerState.CANCELLED)
            return
        if self.stop is not None:
            raise BatchDeferred(f"batch stopped: {self.stop}", seconds=self._retry_seconds())
        if self.contended:
            # Another worker claimed some of ours after the snapshot: look again once its lease has run out.
            raise BatchDeferred(f"{self.contended} recipients claimed elsewhere", seconds=self.policy.lease_seconds)

    def _retry_seconds(self) -> int:
        if self.stop is StopReason.PAUSED:
            return self.policy.paused_retry_seconds
        if self.stop is StopReason.THROTTLED:
            return throttled_retry_seconds(self.receive_count)
        return 1

    async def _worker(self, queue: Iterator[Sendable]) -> None:
        for item in queue:  # a shared iterator: each recipient goes to exactly one worker
            while True:
                if self.stop is not None or not await self._may_send():
                    self._untouched.append(item)
                    break
                if not await self._send_one(item):
                    break
                # SES refused it for now (nothing sent, the claim is back): try again after a full-jitter pause.
                await asyncio.sleep(throttle_backoff_seconds(self.throttled_in_a_row))

    async def _may_send(self) -> bool:
        if self.shutting_down():
            # Finish what is in flight, start nothing new: the rest goes back to the queue for another process.
            self._halt(StopReason.SHUTDOWN)
            return False
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or not await self.ports.throttle.acquire(
            self.campaign.key, self.campaign.throttle, max_wait=remaining
        ):
            self._halt(StopReason.OUT_OF_TIME)
            return False
        await self._check_status()
        return self.stop is None

    def _halt(self, reason: StopReason) -> None:
        # The first reason wins, except that a cancel outranks everything (its recipients are settled at once).
        if self.stop is None or reason is StopReason.CANCELLED:
            self.stop = reason

    async def _check_status(self) -> None:
        """Re-read the campaign status at most every `status_check_interval`, so pause and cancel act mid-batch."""
        if time.monotonic() - self._last_check < self.policy.status_check_interval:
            return
        async with self._check_lock:
            if time.monotonic() - self._last_check < self.policy.status_check_interval:
                return
            current = await self.ports.campaigns.get(self.campaign.tenant_id, self.campaign.campaign_id)
            self._last_check = time.monotonic()
        gate = Gate.CANCEL if current is None else gate_for(current.status)
        if gate is not Gate.PROCEED:
            log.info("processor.batch_interrupted", status=None if current is None else current.status.value)
            self._halt(StopReason.CANCELLED if gate is Gate.CANCEL else StopReason.PAUSED)

    async def _send_one(self, item: Sendable) -> bool:
        """Claim, build, send and record one recipient; True when SES refused it for now and it may be tried again."""
        ports, key = self.ports, item.address.key
        claimed = await ports.ledger.claim(
            self.campaign, key, owner=self.owner, batch_id=self.job.batch_id, lease_seconds=self.policy.lease_seconds
        )
        if claimed is None:
            self.contended += 1
            return False
        envelope = Envelope(
            tenant_id=self.campaign.tenant_id,
            campaign_id=self.campaign.campaign_id,
            batch_id=self.job.batch_id,
            recipient=key,
            destination=item.address.ascii or key,
            attempt=claimed.attempt,
            from_address=self.campaign.from_address,
            from_name=self.campaign.from_name,
            reply_to=self.campaign.reply_to,
        )
        try:
            raw = build_message(
                envelope, item.rendered.subject, item.rendered.html, item.rendered.text, item.unsubscribe_url
            )
        except HeaderInjection as exc:
            log.warning("processor.invalid_header", recipient=key, error=str(exc))
            return await self._record(key, SendOutcome(SendResult.FAILED, reason="invalid_header"))
        outcome = await ports.sender.send(
            OutgoingEmail(destination=envelope.destination, raw=raw, tags=ses_tags(envelope))
        )
        return await self._record(key, outcome)

    async def _record(self, key: str, outcome: SendOutcome) -> bool:
        ports = self.ports
        state = final_state_for(outcome.result)
        if state is None:
            # Nothing was sent: the claim goes back and the batch comes back later.
            EMAILS.labels("throttled").inc()
            await ports.ledger.release(self.campaign, key, self.owner)
            if outcome.result is SendResult.PAUSE:
                log.error("processor.sending_paused", reason=outcome.reason)
                await ports.campaigns.pause(
                    self.campaign.tenant_id, self.campaign.campaign_id, f"SES: {outcome.reason}"
                )
                self._halt(StopReason.PAUSED)
                return False
            if outcome.result is SendResult.QUOTA:
                # The account's 24-hour quota is used up: pause, and resume (from the next batch to come back) once
                # the pause is over; if SES still refuses then, the campaign pauses again.
                resume_at = time.time() + self.policy.quota_pause_seconds
                until = datetime.fromtimestamp(resume_at, UTC).isoformat(timespec="seconds")
                log.error("processor.daily_quota_exceeded", reason=outcome.reason, resumeAt=until)
                await ports.campaigns.pause(
                    self.campaign.tenant_id,
                    self.campaign.campaign_id,
                    f"{QUOTA_PAUSE_REASON}: sending resumes automatically after {until}",
                    resume_at=resume_at,
                )
                self._halt(StopReason.PAUSED)
                return False
            self.throttled_in_a_row += 1
            log.warning(
                "processor.send_throttled",
                result=outcome.result.value,
                reason=outcome.reason,
                inARow=self.throttled_in_a_row,
            )
            if self.throttled_in_a_row < self.policy.throttle_retries:
                return True
            # SES keeps refusing: the batch comes back through the queue's visibility after a longer backoff.
            self._halt(StopReason.THROTTLED)
            return False
        self.throttled_in_a_row = 0
        if state is not LedgerState.SENT:
            log.warning("processor.send_failed", recipient=key, state=state.value, reason=outcome.reason)
        if await ports.ledger.mark(self.campaign, key, self.owner, outcome, state):
            self.finals[key] = state
            EMAILS.labels(state.value).inc()
        else:
            # Our lease ran out meanwhile: someone made the recipient `unknown` (and counted it), or analytics
            # reconciled it `sent` from the SES Send event (uncounted: counted here, exactly once, by the ledger).
            log.warning("processor.lease_lost", recipient=key, outcome=state.value, messageId=outcome.message_id)
            current = (await ports.ledger.snapshot(self.campaign, [key])).get(key)
            if current is not None and current.state.is_final and not current.counted:
                self.finals[key] = current.state
        return False

    async def _settle_untouched(self, state: LedgerState) -> None:
        for item in self._untouched:
            key = item.address.key
            if await self.ports.ledger.finalize_unclaimed(
                self.campaign, key, state, batch_id=self.job.batch_id, reason="campaign_cancelled"
            ):
                self.finals[key] = state
                EMAILS.labels(state.value).inc()
