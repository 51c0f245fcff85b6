"""Fakes of the processor's ports (in-memory, with the ledger's conditional semantics) and a world wiring them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from herald_processor.domain import (
    Campaign,
    CampaignStatus,
    LedgerEntry,
    LedgerState,
    OutgoingEmail,
    RenderedEmail,
    RenderFailure,
    RenderResult,
    SendOutcome,
    SendResult,
    Template,
    TemplateMissing,
    TemplateServiceDown,
    Throttle,
    is_quota_pause,
)
from herald_processor.policy import BatchPolicy, Ports
from herald_processor.schemas import JobRecipient
from herald_processor.service import BatchService


class FakeCampaigns:
    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.counters: Counter[str] = Counter()
        self.status_reason: str | None = None
        self.reads = 0
        self.dead_letters: dict[str, int] = {}

    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        self.reads += 1
        if (tenant_id, campaign_id) != (self.campaign.tenant_id, self.campaign.campaign_id):
            return None
        return self.campaign

    def set_status(self, status: CampaignStatus) -> None:
        self.campaign = replace(self.campaign, status=status)

    async def complete_if_done(self, tenant_id: str, campaign_id: str) -> bool:
        if (
            self.campaign.status is CampaignStatus.SENDING
            and self.counters["finalCount"] >= self.campaign.recipient_count
        ):
            self.set_status(CampaignStatus.SENT)
            return True
        return False

    async def pause(self, tenant_id: str, campaign_id: str, reason: str, *, resume_at: float | None = None) -> bool:
        if self.campaign.status is not CampaignStatus.SENDING:
            return False
        self.campaign = replace(
            self.campaign, status=CampaignStatus.PAUSED, status_reason=reason, quota_resume_at=resume_at
        )
        self.status_reason = reason
        return True

    async def count_dead_letter(self, tenant_id: str, campaign_id: str, batch_id: str, recipients: int) -> bool:
        if batch_id in self.dead_letters:
            return False
        self.dead_letters[batch_id] = recipients
        return True

    async def resume_after_quota(self, tenant_id: str, campaign_id: str, now: float) -> bool:
        c = self.campaign
        if c.status is not CampaignStatus.PAUSED or not is_quota_pause(c.status_reason):
            return False
        if c.quota_resume_at is None or c.quota_resume_at > now:
            return False
        self.campaign = replace(c, status=CampaignStatus.SENDING, status_reason=None, quota_resume_at=None)
        self.status_reason = None
        return True


@dataclass
class Row:
    state: LedgerState = LedgerState.PENDING
    lease_owner: str | None = None
    lease_expires_at: int | None = None
    attempt: int = 0
    counted: bool = False
    reason: str | None = None
    message_id: str | None = None
    in_doubt_resends: int = 0


class FakeLedger:
    """The DynamoDB ledger's conditions, in memory."""

    def __init__(self, campaigns: FakeCampaigns) -> None:
        self.rows: dict[str, Row] = {}
        self.campaigns = campaigns
        self.claim_writes = 0
        self.claim_sizes: list[int] = []  # recipients asked for, per claim write
        self.settle_writes = 0

    def entry(self, email: str) -> LedgerEntry:
        row = self.rows[email]
        return LedgerEntry(
            email, row.state, row.lease_owner, row.lease_expires_at, row.attempt, row.counted, row.in_doubt_resends
        )

    async def snapshot(self, campaign: Campaign, emails: Any) -> dict[str, LedgerEntry]:
        return {e: self.entry(e) for e in emails if e in self.rows}

    def _unclaimed(self, email: str) -> bool:
        return self.rows.get(email, Row()).state is LedgerState.PENDING

    async def claim(
        self, campaign: Campaign, email: str, *, owner: str, batch_id: str, lease_seconds: int
    ) -> LedgerEntry | None:
        if not self._unclaimed(email):
            return None
        row = self.rows.setdefault(email, Row())
        row.state, row.lease_owner = LedgerState.SENDING, owner
        row.lease_expires_at, row.attempt = int(time.time()) + lease_seconds, row.attempt + 1
        return self.entry(email)

    async def claim_many(
        self,
        campaign: Campaign,
        seen: Any,
        *,
        owner: str,
        batch_id: str,
        lease_seconds: int,
        in_doubt: Any = None,
    ) -> dict[str, LedgerEntry]:
        self.claim_writes += 1
        self.claim_sizes.append(len(seen))
        taken = {}
        for email, attempt in seen.items():
            row = self.rows.get(email, Row())
            if row.attempt != attempt:
                continue
            in_doubt_before = (in_doubt or {}).get(email)
            if (
                in_doubt_before is not None
                and row.state is LedgerState.SENDING
                and row.message_id is None
                and (row.lease_expires_at or 0) < in_doubt_before
            ):
                row.state, row.reason, row.in_doubt_resends = (
                    LedgerState.PENDING,
                    "in_doubt_resend",
                    row.in_doubt_resends + 1,
                )
            entry = await self.claim(campaign, email, owner=owner, batch_id=batch_id, lease_seconds=lease_seconds)
            if entry is not None:
                taken[email] = entry
        return taken

    async def settle_many(self, campaign: Campaign, owner: str, settlements: Any) -> set[str]:
        self.settle_writes += 1
        lost = set()
        for s in settlements:
            if s.state is None:
                done = await self.release(campaign, s.email, owner)
            elif s.state is LedgerState.SENDING:  # in doubt: the lease ends now
                row = self.rows[s.email]
                done = row.state is LedgerState.SENDING and row.lease_owner == owner
                if done:
                    row.lease_expires_at = int(time.time())
                    row.reason = s.outcome.reason if s.outcome else None
            else:
                done = await self.mark(campaign, s.email, owner, s.outcome, s.state)
            if not done:
                lost.add(s.email)
        return lost

    async def finalize_unclaimed(
        self, campaign: Campaign, email: str, state: LedgerState, *, batch_id: str, reason: str | None
    ) -> bool:
        if not self._unclaimed(email):
            return False
        self.rows[email] = Row(state=state, reason=reason, attempt=self.rows.get(email, Row()).attempt)
        return True

    async def resolve_in_doubt(
        self, campaign: Campaign, entry: LedgerEntry, *, reconcile_window: float = 0.0, reason: str = "lease_expired"
    ) -> bool:
        row = self.rows[entry.email]
        if row.state is not LedgerState.SENDING or (row.lease_expires_at or 0) >= time.time() - reconcile_window:
            return False
        row.state, row.reason = LedgerState.UNKNOWN, reason
        return True

    async def mark(self, campaign: Campaign, email: str, owner: str, outcome: SendOutcome, state: LedgerState) -> bool:
        row = self.rows[email]
        if row.state is not LedgerState.SENDING or row.lease_owner != owner:
            return False
        row.state, row.message_id, row.reason = state, outcome.message_id, outcome.reason
        return True

    async def release(self, campaign: Campaign, email: str, owner: str) -> bool:
        row = self.rows[email]
        if row.state is not LedgerState.SENDING or row.lease_owner != owner:
            return False
        row.state, row.lease_owner, row.lease_expires_at = LedgerState.PENDING, None, None
        return True

    async def count(self, campaign: Campaign, finals: Any) -> dict[LedgerState, int]:
        counted: Counter[LedgerState] = Counter()
        for email, state in finals.items():
            row = self.rows[email]
            if row.state is state and not row.counted:
                row.counted = True
                counted[state] += 1
                self.campaigns.counters[state.counter] += 1
                self.campaigns.counters["finalCount"] += 1
        return dict(counted)

    def states(self) -> dict[str, str]:
        return {e: r.state.value for e, r in self.rows.items()}


class FakeSuppressions:
    def __init__(self) -> None:
        self.emails: set[str] = set()

    async def suppressed(self, tenant_id: str, emails: Any) -> set[str]:
        return {e for e in emails if e in self.emails}


class FakeTemplates:
    def __init__(self) -> None:
        self.missing = False

    async def get(self, tenant_id: str, template_id: str, version: int | None) -> Template:
        if self.missing:
            raise TemplateMissing("no such template")
        return Template(template_id, version or 1, "Hello {{ first_name }}")


class FakeRenderer:
    def __init__(self) -> None:
        self.down = False
        self.calls: list[list[tuple[JobRecipient, str]]] = []
        self.fail_for: set[str] = set()

    async def render(self, tenant_id: str, template: Template, recipients: Any) -> list[RenderResult]:
        if self.down:
            raise TemplateServiceDown("connection refused")
        self.calls.append(list(recipients))
        return [
            RenderFailure("first_name is undefined")
            if r.email in self.fail_for
            else RenderedEmail(f"Hi {r.data.get('first_name', '')}", f"<p>Hi</p><a href='{url}'>unsubscribe</a>", "Hi")
            for r, url in recipients
        ]


class FakeSender:
    """Sends succeed unless `script` names an outcome for an address; `on_send` runs before each send."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.script: dict[str, SendOutcome] = {}
        self.on_send: Any = None

    async def send(self, email: OutgoingEmail) -> SendOutcome:
        if self.on_send is not None:
            self.on_send(email)
        outcome = self.script.get(email.destination)
        if outcome is not None:
            return outcome
        self.sent.append(email)
        return SendOutcome(SendResult.SENT, message_id=f"msg-{len(self.sent)}")


class OpenThrottle:
    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self, key: str, throttle: Throttle, *, max_wait: float) -> bool:
        self.acquired += 1
        return True


@dataclass
class World:
    campaigns: FakeCampaigns
    ledger: FakeLedger
    suppressions: FakeSuppressions = field(default_factory=FakeSuppressions)
    templates: FakeTemplates = field(default_factory=FakeTemplates)
    renderer: FakeRenderer = field(default_factory=FakeRenderer)
    sender: FakeSender = field(default_factory=FakeSender)
    throttle: OpenThrottle = field(default_factory=OpenThrottle)
    pacer: Any = None  # a ProviderGate (tests/processor/test_provider_pacing.py)

    def service(self, **policy: Any) -> BatchService:
        ports = Ports(
            self.campaigns,
            self.ledger,
            self.suppressions,
            self.templates,
            self.renderer,
            self.sender,
            self.throttle,
            pacer=self.pacer,
        )
        options: dict[str, Any] = {
            "processor_id": "test",
            "public_url": "https://herald.test",
            "unsubscribe_secret": "s",
        }
        return BatchService(ports, BatchPolicy(**(options | policy)))


def make_campaign(recipient_count: int = 3, status: CampaignStatus = CampaignStatus.SENDING) -> Campaign:
    return Campaign(
        tenant_id="acme",
        campaign_id="camp_0123456789abcdef0123",
        status=status,
        template_id="newsletter",
        from_address="news@example.com",
        from_name="Acme News",
        reply_to="help@example.com",
        template_version=2,
        recipient_count=recipient_count,
    )


@pytest.fixture
def world() -> World:
    campaigns = FakeCampaigns(make_campaign())
    return World(campaigns=campaigns, ledger=FakeLedger(campaigns))
