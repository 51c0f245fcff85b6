"""The send phase of a batch, a chunk of recipients at a time: take a send slot for each (rate limits), claim the
chunk in one ledger write, build and send its messages concurrently, record the chunk's outcomes in one ledger write;
within the batch's time budget, watching the campaign status as it goes.

Why a chunk's claim is as safe as a claim per call: a chunk is at most `send_concurrency` recipients, only as many as
have a send slot right now, and its claim is written after those slots are taken, right before its SES calls, which
then all go out at once. A process killed mid-chunk leaves in doubt the chunk's recipients, and those are exactly the
calls it had in flight: claiming each recipient right before its own call claims the same recipients at the same
moment (they run concurrently), so it leaves the same ones. The only recipients a chunk's single outcome write can
leave in doubt that per-call writes would not are those whose answers came back while the chunk's slowest call was
still out; SES accepted those, so their Send events reconcile them as `sent` (analytics) and they are never sent
again. What the chunk saves is one claim and one outcome transaction per recipient: through botocore a DynamoDB
transaction costs the client more CPU than an SES call (README, "Processor").

A chunk starts only after a read of the campaign status at most `status_check_interval` old, and its calls go out
only after another such read once it is claimed (the claims go back in one write if it was paused or cancelled
meanwhile), so a pause stops new SES calls within about that interval. The claim does not check the status itself:
that would put the campaign item, which every processor and analytics write, into every claim's transaction, and
DynamoDB cancels transactions that meet on one item."""

from __future__ import annotations

import asyncio
import contextlib
import math
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
    Settlement,
)
from herald_processor.envelope import Envelope
from herald_processor.mime import HeaderInjection, build_message, ses_tags
from herald_processor.outcomes import record_outcomes, settle_unsent
from herald_processor.provider_pacing import WARMUP_RETRY_SECONDS, PacedQueue
from herald_processor.providers import domain_of
from herald_processor.quota_lease import release_all

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_processor.domain import Campaign, LedgerEntry, RenderedEmail
    from herald_processor.policy import BatchPolicy, Ports
    from herald_processor.quota_lease import QuotaLease
    from herald_processor.schemas import Address, EmailJob, JobRecipient

log = structlog.get_logger("herald.processor")

# Chunk pipelines per batch: while one waits on its ledger writes and SES calls, the other takes the next free send
# slots (under a rate limit, slots come a few at a time). Calls in flight stay within `send_concurrency` in all.
LANES = 2


class StopReason(StrEnum):
    PAUSED = "paused"
    CANCELLED = "cancelled"
    THROTTLED = "throttled"
    OUT_OF_TIME = "out_of_time"
    SHUTDOWN = "shutdown"


@dataclass
class Sendable:
    recipient: JobRecipient
    address: Address
    rendered: RenderedEmail
    unsubscribe_url: str
    attempt: int = 0  # the ledger entry's attempt when last looked at: a claim holds only if it is still that
    in_doubt_before: int | None = None  # in doubt, to be sent again: its lease must have ended before this epoch
    quota_lease: QuotaLease | None = None  # over the last of SES's quota (quota_lease.py): held until SES answers

    def pop_quota_lease(self) -> QuotaLease | None:
        lease, self.quota_lease = self.quota_lease, None
        return lease


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
    in_doubt: int = 0
    throttled_in_a_row: int = 0
    _untouched: list[Sendable] = field(default_factory=list)
    _deadline: float = 0.0
    _last_check: float = 0.0
    _paused_until: float = 0.0
    _calls: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)
    _status_read: asyncio.Lock = field(default_factory=asyncio.Lock)
    _assembling: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send_all(self, ready: list[Sendable]) -> None:
        """Send every recipient of `ready` or leave it unclaimed; raises BatchDeferred when some are left."""
        self._deadline = time.monotonic() + self.policy.batch_time_budget
        # The batch read the campaign before rendering, which can take seconds: the first chunk reads it again.
        self._last_check = -math.inf
        self._calls = asyncio.Semaphore(self.policy.send_concurrency)
        # Mailbox-provider pacing (provider_pacing.py): recipients whose provider has no slot wait behind the rest.
        sender_domain = domain_of(self.campaign.from_address)
        backlog = self.campaign.recipient_count - self.campaign.final_count
        queue = PacedQueue(ready, _destination, self.ports.pacer, self.campaign.tenant_id, sender_domain, backlog)
        await queue.classify()
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(LANES, len(ready))):
                    group.create_task(self._lane(queue))
        except BaseExceptionGroup as failure:
            raise failure.exceptions[0] from None
        self._untouched.extend(queue)
        if self.stop is StopReason.CANCELLED:
            await self._settle_untouched(LedgerState.CANCELLED)
            return
        if queue.day_exhausted and self.stop is StopReason.OUT_OF_TIME:  # warm-up (warmup.py): come back later
            raise BatchDeferred("warm-up: today's allowance is used up", seconds=WARMUP_RETRY_SECONDS)
        if queue.paced_for and self.stop is StopReason.OUT_OF_TIME:  # daily pacing: back when its next slot is due
            raise BatchDeferred("daily pacing", seconds=min(WARMUP_RETRY_SECONDS, math.ceil(queue.paced_for)))
        if self.stop is not None:
            raise BatchDeferred(f"batch stopped: {self.stop}", seconds=self._retry_seconds())
        if self.contended:
            # Another worker claimed some of ours after the snapshot: look again once its lease has run out.
            raise BatchDeferred(f"{self.contended} recipients claimed elsewhere", seconds=self.policy.lease_seconds)
        if self.in_doubt:
            # SES may have sent them: come back when the reconcile window is over (`sent` by then, or `unknown`).
            raise BatchDeferred(
                f"{self.in_doubt} recipients in doubt", seconds=math.ceil(self.policy.reconcile_window) + 1
            )

    async def _lane(self, queue: PacedQueue[Sendable]) -> None:
        while queue and self.stop is None:
            # One lane gathers a chunk at a time: two gathering together (each waiting on the status read) would
            # split the free calls between them, and every fragment costs its own claim and outcome writes.
            async with self._assembling:
                chunk = await self._take_slots(queue)
            if not chunk:
                return
            try:
                again = await self._finish(chunk)
                if again:
                    # SES refused some for now (nothing sent, claims given back): the whole batch tries again
                    # after a full-jitter pause, those first.
                    queue.extendleft(reversed(again))
                    self._paused_until = time.monotonic() + throttle_backoff_seconds(self.throttled_in_a_row)
            finally:
                for _ in chunk:
                    self._calls.release()
                # A recipient that never reached SES (claimed elsewhere, paused, the batch cancelled) gives its lease
                # back here; all at once, so a second cancellation cannot skip some (release_all).
                await release_all(item.pop_quota_lease() for item in chunk)
            await asyncio.sleep(0)  # a lane waiting for calls takes them first: whole chunks, not fragments

    async def _finish(self, chunk: list[Sendable]) -> list[Sendable]:
        """Claim, send and record `chunk`; a cancellation (handler timeout, shutdown) waits for the chunk to end, so
        its outcomes are recorded and no claim is left behind (its SES calls end within the client's timeouts)."""
        task = asyncio.ensure_future(self._send_chunk(chunk))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await task
            raise

    def _retry_seconds(self) -> int:
        if self.stop is StopReason.PAUSED:
            return self.policy.paused_retry_seconds
        if self.stop is StopReason.THROTTLED:
            return throttled_retry_seconds(self.receive_count)
        return 1

    async def _take_slots(self, queue: PacedQueue[Sendable]) -> list[Sendable]:
        """The next chunk: waits for a free call and the first recipient's send slot, then takes only calls and
        slots free right now (at most `send_concurrency` calls in flight across the lanes)."""
        chunk: list[Sendable] = []
        try:
            await self._take_into(queue, chunk)
        except BaseException:
            # Cancelled (handler timeout, shutdown) or failed mid-take: the chunk never goes out, and the leases over
            # the last of SES's quota its recipients took go back now rather than running out (LEASE_SECONDS), which
            # would hold the whole fleet's last sends that long.
            await release_all(item.pop_quota_lease() for item in chunk)
            raise
        return chunk

    async def _take_into(self, queue: PacedQueue[Sendable], chunk: list[Sendable]) -> None:
        """`_take_slots`' loop, filling the caller's `chunk`: what was taken stays known to it if this is cancelled."""
        while queue and self.stop is None:
            if chunk:
                if self._calls.locked():
                    break
                await self._calls.acquire()  # free: returns at once
                taken = await self.ports.throttle.acquire(self.campaign.key, self.campaign.throttle, max_wait=0.0)
                if not taken or not queue:
                    self._calls.release()
                    break
            else:
                await self._calls.acquire()
                while (pause := self._paused_until - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
                if not queue or not await self._may_send() or not queue:  # the other lane may have taken the rest
                    self._calls.release()
                    break
            item = await queue.take(max_wait=0.0 if chunk else max(0.0, self._deadline - time.monotonic()))
            if item is None:  # no provider slot for the rest in time: they go back to the queue unclaimed
                self._calls.release()
                if not chunk:
                    self._halt(StopReason.OUT_OF_TIME)
                break
            item.quota_lease = queue.lease_of(item)
            chunk.append(item)

    async def _may_send(self) -> bool:
        if self.shutting_down():
            # Finish what is in flight, start nothing new: the rest goes back to the queue for another process.
            self._halt(StopReason.SHUTDOWN)
            return False
        await self._check_status()
        if self.stop is not None:
            return False
        # The slot comes last, right before the claim and the send: a token taken early would let sends bunch up.
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or not await self.ports.throttle.acquire(
            self.campaign.key, self.campaign.throttle, max_wait=remaining
        ):
            self._halt(StopReason.OUT_OF_TIME)
            return False
        # The wait for the slot may have been long: the status is read again if it has grown stale meanwhile, so the
        # chunk's calls start within `status_check_interval` of a read that saw the campaign sending.
        await self._check_status()
        return self.stop is None

    def _halt(self, reason: StopReason) -> None:
        # The first reason wins, except that a cancel outranks everything (its recipients are settled at once).
        if self.stop is None or reason is StopReason.CANCELLED:
            self.stop = reason

    async def _check_status(self) -> None:
        """Re-read the campaign status at most every `status_check_interval`, so pause and cancel act mid-batch."""
        async with self._status_read:  # the calls of a chunk share one read
            if time.monotonic() - self._last_check < self.policy.status_check_interval:
                return
            started = time.monotonic()  # what the read saw is at least this recent
            current = await self.ports.campaigns.get(self.campaign.tenant_id, self.campaign.campaign_id)
            self._last_check = started
        gate = Gate.CANCEL if current is None else gate_for(current.status)
        if gate is not Gate.PROCEED:
            log.info("processor.batch_interrupted", status=None if current is None else current.status.value)
            self._halt(StopReason.CANCELLED if gate is Gate.CANCEL else StopReason.PAUSED)

    async def _send_chunk(self, chunk: list[Sendable]) -> list[Sendable]:
        """Claim `chunk` in one ledger write, send its messages concurrently, record their outcomes in one ledger
        write; the recipients SES refused for now (claims given back, to try again)."""
        ledger = self.ports.ledger
        claimed = await ledger.claim_many(
            self.campaign,
            {item.address.key: item.attempt for item in chunk},
            owner=self.owner,
            batch_id=self.job.batch_id,
            lease_seconds=self.policy.lease_seconds,
            in_doubt={i.address.key: i.in_doubt_before for i in chunk if i.in_doubt_before is not None},
        )
        self.contended += len(chunk) - len(claimed)
        mine = [(item, claimed[item.address.key]) for item in chunk if item.address.key in claimed]
        if not mine:
            return []
        # The claim may have taken a while: a pause or cancel written meanwhile stops the calls, the claims go back.
        await self._check_status()
        if self.stop in (StopReason.PAUSED, StopReason.CANCELLED):
            await ledger.settle_many(self.campaign, self.owner, [Settlement(i.address.key, None) for i, _ in mine])
            for item, entry in mine:
                item.attempt, item.in_doubt_before = entry.attempt, None  # `pending` again, attempt kept
                self._untouched.append(item)
            return []
        for item, entry in mine:
            if item.in_doubt_before is not None:
                log.warning("processor.in_doubt_resend", recipient=item.address.key, attempt=entry.attempt)
        outcomes = await asyncio.gather(*(self._send(item, entry) for item, entry in mine))
        settlements: list[Settlement] = []
        again: list[Sendable] = []
        for (item, entry), outcome in zip(mine, outcomes, strict=True):
            state = final_state_for(outcome.result)
            settlements.append(Settlement(item.address.key, state, outcome))
            if state is None and await self._refused(outcome):
                item.attempt = entry.attempt  # the claim goes back with its attempt number kept
                item.in_doubt_before = None  # released: `pending` now, an ordinary claim takes it
                again.append(item)
            elif state is None:
                item.attempt, item.in_doubt_before = entry.attempt, None
                self._untouched.append(item)
            elif state is LedgerState.SENDING:
                self.throttled_in_a_row = 0
                self.in_doubt += 1
                log.warning("processor.send_in_doubt", recipient=item.address.key, reason=outcome.reason)
            else:
                self.throttled_in_a_row = 0
                if state is not LedgerState.SENT:
                    log.warning(
                        "processor.send_failed", recipient=item.address.key, state=state.value, reason=outcome.reason
                    )
        lost = await ledger.settle_many(self.campaign, self.owner, settlements)
        await self._record(settlements, lost)
        return again

    async def _send(self, item: Sendable, claimed: LedgerEntry) -> SendOutcome:
        try:
            return await self._send_one(item, claimed)
        finally:
            # Sent, refused or in doubt, SES has answered (or the call timed out): the next send of the fleet's last
            # few may read what is left now.
            await release_all([item.pop_quota_lease()])

    async def _send_one(self, item: Sendable, claimed: LedgerEntry) -> SendOutcome:
        key = item.address.key
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
            return SendOutcome(SendResult.FAILED, reason="invalid_header")
        return await self.ports.sender.send(
            OutgoingEmail(
                destination=envelope.destination,
                raw=raw,
                tags=ses_tags(envelope),
                tenant_id=envelope.tenant_id,
                from_address=envelope.from_address,
            )
        )

    async def _refused(self, outcome: SendOutcome) -> bool:
        """SES sent nothing: pause the campaign or count the throttle; True when the recipient may be tried again
        within this batch."""
        EMAILS.labels("throttled").inc()
        if outcome.result is SendResult.PAUSE:
            if self.stop is not StopReason.PAUSED:
                log.error("processor.sending_paused", reason=outcome.reason)
                await self.ports.campaigns.pause(
                    self.campaign.tenant_id, self.campaign.campaign_id, f"SES: {outcome.reason}"
                )
            self._halt(StopReason.PAUSED)
            return False
        if outcome.result is SendResult.QUOTA:
            if self.stop is not StopReason.PAUSED:
                await self._pause_for_quota(outcome)
            self._halt(StopReason.PAUSED)
            return False
        self.throttled_in_a_row += 1
        log.warning(
            "processor.send_throttled",
            result=outcome.result.value,
            reason=outcome.reason,
            inARow=self.throttled_in_a_row,
        )
        if self.throttled_in_a_row < self.policy.throttle_retries and self.stop is None:
            return True
        # SES keeps refusing: the batch comes back through the queue's visibility after a longer backoff.
        self._halt(StopReason.THROTTLED)
        return False

    async def _pause_for_quota(self, outcome: SendOutcome) -> None:
        # The account's 24-hour quota is used up: pause, and resume (from the next batch to come back) once the pause
        # is over; if SES still refuses then, the campaign pauses again.
        resume_at = time.time() + self.policy.quota_pause_seconds
        until = datetime.fromtimestamp(resume_at, UTC).isoformat(timespec="seconds")
        log.error("processor.daily_quota_exceeded", reason=outcome.reason, resumeAt=until)
        await self.ports.campaigns.pause(
            self.campaign.tenant_id,
            self.campaign.campaign_id,
            f"{QUOTA_PAUSE_REASON}: sending resumes automatically after {until}",
            resume_at=resume_at,
        )

    async def _record(self, settlements: list[Settlement], lost: set[str]) -> None:
        await record_outcomes(self.ports.ledger, self.campaign, self.finals, settlements, lost)

    async def _settle_untouched(self, state: LedgerState) -> None:
        for item in self._untouched:
            final = state if item.in_doubt_before is None else LedgerState.UNKNOWN
            if await settle_unsent(
                self.ports.ledger, self.campaign, item.address.key, final, self.job.batch_id, self.policy
            ):
                self.finals[item.address.key] = final
                EMAILS.labels(final.value).inc()


def _destination(item: Sendable) -> str:
    return item.address.ascii or item.address.key
