"""Handling one email-job batch (flow steps 10–18): read the campaign, settle invalid and suppressed recipients,
render once, claim and send each recipient under the rate limits, record each outcome, count the batch once."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.metrics import EMAILS
from herald_processor.announcements import ANNOUNCED_STATES
from herald_processor.decisions import (
    EntryAction,
    Gate,
    decide_entry,
    dependency_retry_seconds,
    gate_for,
    lease_wait_seconds,
)
from herald_processor.domain import (
    BatchDeferred,
    CampaignMissing,
    LedgerState,
    RenderedEmail,
    TemplateMissing,
    TemplateServiceDown,
    is_quota_pause,
)
from herald_processor.mime import unsubscribe_url
from herald_processor.schemas import Address, check_address
from herald_processor.sending import Sendable, SendRun

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from herald_processor.domain import Campaign, LedgerEntry
    from herald_processor.policy import BatchPolicy, Ports
    from herald_processor.schemas import EmailJob, JobRecipient

log = structlog.get_logger("herald.processor")


@dataclass
class BatchReport:
    counted: dict[LedgerState, int] = field(default_factory=dict)
    campaign_completed: bool = False


class BatchService:
    """Runs one batch attempt. Stateless between batches: the ledger is the memory."""

    def __init__(self, ports: Ports, policy: BatchPolicy, *, clock: Callable[[], float] = time.time) -> None:
        self._ports = ports
        self._policy = policy
        self._clock = clock
        self._stopping = False

    def stop(self) -> None:
        """Process shutdown: running batches start no new send and hand their remaining recipients back."""
        self._stopping = True

    async def process(self, job: EmailJob, *, receive_count: int = 1) -> BatchReport:
        """Handle the batch; raises BatchDeferred (come back later), CampaignMissing, TemplateServiceUnavailable."""
        campaign = await self._ports.campaigns.get(job.tenant_id, job.campaign_id)
        if campaign is None:
            raise CampaignMissing(f"campaign {job.campaign_id} of tenant {job.tenant_id} does not exist")
        log.info("processor.batch_started", recipients=len(job.recipients), receiveCount=receive_count)
        gate = gate_for(campaign.status)
        if gate is Gate.DEFER and is_quota_pause(campaign.status_reason):
            campaign = await self._after_quota_pause(campaign)
            gate = gate_for(campaign.status)
        if gate is Gate.DEFER:
            raise BatchDeferred(f"campaign is {campaign.status}", seconds=self._policy.paused_retry_seconds)
        finals: dict[str, LedgerState] = {}
        unannounced: set[str] = set()
        try:
            await self._run(job, campaign, gate, finals, receive_count)
        finally:
            # Runs on success and on failure alike: whatever reached a final state is counted now, exactly once.
            # `failed` and `unknown` ones are announced first: one whose announcement did not go out stays uncounted,
            # so the batch's next handling announces and counts it (announcements.py).
            unannounced = await self._announce(campaign, finals)
            counting = {email: state for email, state in finals.items() if email not in unannounced}
            report = BatchReport(counted=await self._ports.ledger.count(campaign, counting) if counting else {})
            report.campaign_completed = await self._ports.campaigns.complete_if_done(
                campaign.tenant_id, campaign.campaign_id
            )
            log.info(
                "processor.batch_counted",
                counted={s.value: n for s, n in report.counted.items()},
                campaignCompleted=report.campaign_completed,
            )
        if unannounced:
            raise BatchDeferred(
                f"{len(unannounced)} settlements not announced yet", seconds=self._policy.paused_retry_seconds
            )
        return report

    async def _announce(self, campaign: Campaign, finals: dict[str, LedgerState]) -> set[str]:
        """Announce the batch's `failed` and `unknown` recipients; those whose announcement failed."""
        announcer = self._ports.announcer
        if announcer is None or not (settled := {e: s for e, s in finals.items() if s in ANNOUNCED_STATES}):
            return set()
        try:
            await announcer.settled(campaign, settled)
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            log.warning("processor.settlements_not_announced", recipients=len(settled), error=str(exc))
            return set(settled)
        return set()

    async def dead_lettered(self, tenant_id: str, campaign_id: str, batch_id: str, recipients: int) -> None:
        """A batch of this campaign goes to the dead-letter queue: its recipients are neither sent nor counted as
        final until it is redriven, so the campaign says how many are waiting there."""
        if await self._ports.campaigns.count_dead_letter(tenant_id, campaign_id, batch_id, recipients):
            log.error("processor.batch_dead_lettered", recipients=recipients)

    async def _after_quota_pause(self, campaign: Campaign) -> Campaign:
        """A campaign the processor paused for the SES daily quota: resume it once its pause is over."""
        now = self._clock()
        resume_at = campaign.quota_resume_at or 0
        if resume_at > now:
            seconds = max(self._policy.paused_retry_seconds, min(int(resume_at - now) + 1, 900))
            raise BatchDeferred("SES daily quota: paused until it frees up", seconds=seconds)
        if await self._ports.campaigns.resume_after_quota(campaign.tenant_id, campaign.campaign_id, now):
            log.info("processor.quota_pause_ended")
        current = await self._ports.campaigns.get(campaign.tenant_id, campaign.campaign_id)
        if current is None:
            raise CampaignMissing(f"campaign {campaign.campaign_id} of tenant {campaign.tenant_id} does not exist")
        return current

    async def _run(
        self, job: EmailJob, campaign: Campaign, gate: Gate, finals: dict[str, LedgerState], receive_count: int
    ) -> None:
        ports, now = self._ports, self._clock()
        unique: dict[str, tuple[JobRecipient, Address]] = {}
        for recipient in job.recipients:
            address = check_address(recipient.email)
            unique.setdefault(address.key, (recipient, address))
        snapshot = await ports.ledger.snapshot(campaign, list(unique))
        held: list[LedgerEntry] = []  # to judge again later: live leases, and expired ones awaiting their Send event
        in_doubt: dict[str, int] = {}  # to be sent again: email → the epoch its lease must have ended before
        candidates: list[tuple[JobRecipient, Address]] = []
        window = self._policy.reconcile_window
        for key, (recipient, address) in unique.items():
            entry = snapshot.get(key)
            action = decide_entry(entry, now, window)
            if action is EntryAction.SEND:
                candidates.append((recipient, address))
            elif action is EntryAction.COUNT and entry is not None:
                finals[key] = entry.state
            elif action is EntryAction.IN_DOUBT and entry is not None and self._resends(entry):
                # No SES event for it within the window: evidence its send did not happen. Sent again, with the same
                # X-Herald-* headers and tags, so a Send event of the first attempt arriving late still counts once.
                in_doubt[key] = math.ceil(now - window)
                candidates.append((recipient, address))
            elif action is EntryAction.IN_DOUBT and entry is not None:
                reason = "lease_expired" if self._policy.in_doubt == "hold" else "in_doubt_resends_exhausted"
                if await ports.ledger.resolve_in_doubt(campaign, entry, reconcile_window=window, reason=reason):
                    log.warning(
                        "processor.recipient_unknown",
                        recipient=key,
                        leaseOwner=entry.lease_owner,
                        leaseExpiresAt=entry.lease_expires_at,
                        attempt=entry.attempt,
                    )
                    EMAILS.labels("unknown").inc()
                    finals[key] = LedgerState.UNKNOWN
                else:
                    held.append(entry)  # reconciled or counted meanwhile: the next look counts it
            elif action in (EntryAction.HELD, EntryAction.RECONCILING) and entry is not None:
                held.append(entry)

        if gate is Gate.CANCEL:
            reason = f"campaign_{campaign.status.value}"
            keys = [a.key for _, a in candidates]
            await self._settle(job, campaign, keys, LedgerState.CANCELLED, finals, reason, in_doubt)
            return
        sendable = await self._settle_unsendable(job, campaign, candidates, finals, in_doubt)
        if sendable:
            seen = {key: entry.attempt for key, entry in snapshot.items()}
            await self._render_and_send(job, campaign, sendable, finals, receive_count, seen, in_doubt)
        if held:
            # A live claim elsewhere, or an expired one whose SES Send event may still come: come back when each can
            # be judged (then counted, reconciled as `sent` by analytics, or made `unknown`).
            raise BatchDeferred(
                f"{len(held)} recipients claimed or in doubt", seconds=lease_wait_seconds(held, now, window)
            )

    async def _settle(
        self,
        job: EmailJob,
        campaign: Campaign,
        keys: list[str],
        state: LedgerState,
        finals: dict[str, LedgerState],
        reason: str | None,
        in_doubt: Mapping[str, int] | None = None,
    ) -> None:
        doubtful = [k for k in keys if in_doubt and k in in_doubt]
        if doubtful:
            # Not sent again after all: its first send may have happened, so `unknown` rather than `state`.
            entries = await self._ports.ledger.snapshot(campaign, doubtful)
            await self._give_up(campaign, list(entries.values()), finals, reason or state.value)
        for key in keys:
            if key in doubtful:
                continue
            if await self._ports.ledger.finalize_unclaimed(campaign, key, state, batch_id=job.batch_id, reason=reason):
                finals[key] = state
                EMAILS.labels(state.value).inc()

    async def _give_up(
        self, campaign: Campaign, entries: list[LedgerEntry], finals: dict[str, LedgerState], reason: str
    ) -> None:
        for entry in entries:
            if await self._ports.ledger.resolve_in_doubt(
                campaign, entry, reconcile_window=self._policy.reconcile_window, reason=reason
            ):
                finals[entry.email] = LedgerState.UNKNOWN
                EMAILS.labels("unknown").inc()

    def _resends(self, entry: LedgerEntry) -> bool:
        """Whether an in-doubt entry is sent again (HERALD_IN_DOUBT=resend, its resends not used up)."""
        return self._policy.in_doubt == "resend" and entry.in_doubt_resends < self._policy.in_doubt_max_resends

    async def _settle_unsendable(
        self,
        job: EmailJob,
        campaign: Campaign,
        candidates: list[tuple[JobRecipient, Address]],
        finals: dict[str, LedgerState],
        in_doubt: Mapping[str, int],
    ) -> list[tuple[JobRecipient, Address]]:
        invalid = [a.key for _, a in candidates if not a.valid]
        if invalid:
            log.info("processor.invalid_recipients", count=len(invalid))
            await self._settle(job, campaign, invalid, LedgerState.INVALID, finals, "invalid_address", in_doubt)
        valid = [(r, a) for r, a in candidates if a.valid]
        suppressed = await self._ports.suppressions.suppressed(campaign.tenant_id, [a.key for _, a in valid])
        if suppressed:
            keys = sorted(suppressed)
            await self._settle(job, campaign, keys, LedgerState.SUPPRESSED, finals, "suppressed", in_doubt)
        return [(r, a) for r, a in valid if a.key not in suppressed]

    async def _render_and_send(
        self,
        job: EmailJob,
        campaign: Campaign,
        sendable: list[tuple[JobRecipient, Address]],
        finals: dict[str, LedgerState],
        receive_count: int,
        seen: dict[str, int],
        in_doubt: Mapping[str, int],
    ) -> None:
        ports, policy = self._ports, self._policy
        keys = [a.key for _, a in sendable]
        template_id = job.template_id or campaign.template_id
        urls = [
            unsubscribe_url(policy.public_url, policy.unsubscribe_secret, campaign.tenant_id, campaign.campaign_id, k)
            for k in keys
        ]
        try:
            template = await ports.templates.get(
                campaign.tenant_id, template_id, job.template_version or campaign.template_version
            )
            results = await ports.renderer.render(
                campaign.tenant_id, template, [(r, url) for (r, _), url in zip(sendable, urls, strict=True)]
            )
        except TemplateServiceDown as exc:
            # Flow: "Service unavailable: queue for retry". Nothing was claimed; the batch comes back after a backoff.
            log.warning("processor.template_service_down", detail=exc.detail)
            raise BatchDeferred(exc.detail, seconds=dependency_retry_seconds(receive_count)) from exc
        except TemplateMissing as exc:
            # Flow: "Template not found: log error, skip batch". Its recipients fail for good, so the campaign ends.
            log.error("processor.template_not_found", templateId=template_id, detail=exc.detail)
            await self._settle(job, campaign, keys, LedgerState.FAILED, finals, "template_not_found", in_doubt)
            return
        ready: list[Sendable] = []
        for (recipient, address), url, result in zip(sendable, urls, results, strict=True):
            if isinstance(result, RenderedEmail):
                ready.append(
                    Sendable(
                        recipient=recipient,
                        address=address,
                        rendered=result,
                        unsubscribe_url=url,
                        attempt=seen.get(address.key, 0),
                        in_doubt_before=in_doubt.get(address.key),
                    )
                )
            else:
                log.warning("processor.render_failed", recipient=address.key, error=result.error)
                await self._settle(job, campaign, [address.key], LedgerState.FAILED, finals, "render_error", in_doubt)
        run = SendRun(
            ports=ports,
            policy=policy,
            job=job,
            campaign=campaign,
            owner=f"{policy.processor_id}/{secrets.token_hex(4)}",
            finals=finals,
            receive_count=receive_count,
            shutting_down=lambda: self._stopping,
        )
        await run.send_all(ready)
