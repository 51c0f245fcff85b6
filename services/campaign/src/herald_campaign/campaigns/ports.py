"""The ports the campaign service depends on: small Protocols, so rules are tested without a network and each
adapter is tested against the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence

    from herald_campaign.campaigns.fanout_store import DueCampaign
    from herald_campaign.campaigns.intake import Recipient
    from herald_campaign.campaigns.models import Campaign, CampaignStatus, Priority
    from herald_campaign.campaigns.retry_store import RetryRun
    from herald_campaign.dynamo import Item


class CampaignStore(Protocol):
    async def create(self, campaign: Campaign) -> None: ...
    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None: ...
    async def list_page(
        self, tenant_id: str, *, status: CampaignStatus | None, limit: int, start_key: Item | None
    ) -> tuple[list[Campaign], Item | None]: ...
    async def reserve_parts(self, tenant_id: str, campaign_id: str, count: int, now: str) -> int | None: ...
    async def add_intake(
        self, tenant_id: str, campaign_id: str, *, accepted: int, invalid: int, duplicates: int, now: str
    ) -> bool: ...
    async def claim_send(
        self, tenant_id: str, campaign_id: str, *, sets: dict[str, Any], now: str
    ) -> Campaign | None: ...
    async def transition(
        self,
        tenant_id: str,
        campaign_id: str,
        *,
        allowed: Iterable[CampaignStatus],
        target: CampaignStatus,
        reason: str | None,
        now: str,
    ) -> bool: ...
    async def update_draft(
        self, tenant_id: str, campaign_id: str, *, sets: dict[str, Any], removes: Iterable[str], now: str
    ) -> Campaign | None: ...
    async def delete_draft(self, tenant_id: str, campaign_id: str) -> Campaign | None: ...
    async def reserve_invalid_part(self, tenant_id: str, campaign_id: str, now: str) -> int | None: ...
    async def start_retry(
        self, tenant_id: str, campaign_id: str, *, allowed: Iterable[CampaignStatus], now: str
    ) -> int | None: ...
    async def reopen(self, tenant_id: str, campaign_id: str, now: str) -> bool: ...


class RecipientStore(Protocol):
    async def write_part(
        self, tenant_id: str, campaign_id: str, part: int, recipients: Sequence[Recipient]
    ) -> None: ...
    async def delete_part(self, tenant_id: str, campaign_id: str, part: int) -> None: ...
    def iter_recipients(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[Recipient]: ...
    async def write_invalid(
        self, tenant_id: str, campaign_id: str, part: int, rows: Sequence[dict[str, Any]]
    ) -> None: ...
    async def delete_invalid(self, tenant_id: str, campaign_id: str, part: int) -> None: ...
    def iter_invalid(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[dict[str, Any]]: ...
    async def delete_all(self, tenant_id: str, campaign_id: str) -> int: ...


class Ledger(Protocol):
    """The campaign service's narrow view of the processor's delivery ledger: failed recipients, reset for retry."""

    def failed(self, tenant_id: str, campaign_id: str) -> AsyncIterator[tuple[str, str | None, bool]]:
        """(email key, reason, counted) of every recipient whose state is `failed`."""
        ...

    async def reset(
        self,
        tenant_id: str,
        campaign_id: str,
        entries: Sequence[tuple[str, str | None, bool]],
        *,
        call: int,
        now: str,
    ) -> list[str]:
        """failed → pending, marked `retryCall = call`, for each entry still as read and not reset by this call
        before (counted ones also leave the campaign's counters); the keys actually reset."""
        ...

    def marked(self, tenant_id: str, campaign_id: str, call: int) -> AsyncIterator[str]:
        """The email keys of the entries retry-failed call `call` reset (whatever their state now)."""
        ...


class TestMailer(Protocol):
    async def send(self, destination: str, raw: bytes, tags: dict[str, str]) -> str:
        """Send one raw test email; its SES message id. Raises on an SES error."""
        ...


class JobQueue(Protocol):
    async def send(self, messages: Sequence[tuple[str, str]], priority: Priority) -> None:
        """Queue (entry id, JSON body) messages on the email-jobs queue of `priority`."""


class FanoutStore(Protocol):
    async def find_due(self, *, now: str, epoch: int) -> list[DueCampaign]: ...
    async def claim_scheduled(self, due: DueCampaign, *, owner: str, lease_until: int, now: str) -> Campaign | None: ...
    async def claim_abandoned(self, due: DueCampaign, *, owner: str, lease_until: int) -> Campaign | None: ...
    async def heartbeat(self, c: Campaign, *, owner: str, queued: int, lease_until: int) -> CampaignStatus | None: ...
    async def finish(self, c: Campaign, *, owner: str, batch_count: int, now: str) -> bool: ...
    async def fail(self, c: Campaign, *, reason: str, now: str) -> bool: ...
    async def release(self, c: Campaign, *, owner: str) -> None: ...


class RetryStore(Protocol):
    async def start(
        self,
        tenant_id: str,
        campaign_id: str,
        *,
        allowed: Iterable[CampaignStatus],
        owner: str,
        lease_until: int,
        now: str,
    ) -> RetryRun | None: ...
    async def running(self, tenant_id: str, campaign_id: str) -> bool: ...
    async def heartbeat(self, run: RetryRun, *, owner: str, queued: int | None, lease_until: int) -> bool: ...
    async def finish(self, run: RetryRun, *, owner: str, now: str) -> bool: ...
    async def release(self, run: RetryRun, *, owner: str) -> None: ...
    async def find_abandoned(self, *, epoch: int) -> list[RetryRun]: ...
    async def claim_abandoned(self, run: RetryRun, *, owner: str, lease_until: int) -> RetryRun | None: ...


class RetryResumption(Protocol):
    """What the scheduler asks of retry-failed (`retry.RetryResumer`), declared as a port so that fanout.py, which
    holds the scheduler, never imports retry.py (the two imported each other)."""

    async def tick(self) -> int:
        """Take over every abandoned retry-failed run; the number taken."""
        ...


class TemplateCatalog(Protocol):
    async def latest_version(self, template_id: str, authorization: str | None) -> int:
        """The template's latest version, asked with the caller's own credentials. TemplateNotFound if absent."""
        ...

    async def render(
        self, template_id: str, version: int | None, recipients: Sequence[dict[str, Any]], authorization: str | None
    ) -> list[dict[str, Any]]:
        """One render result per recipient (`{email, subject, html, text}` or `{email, error}`), in order."""
        ...


class SuppressionLookup(Protocol):
    async def suppressed(self, tenant_id: str, emails: Sequence[str]) -> set[str]:
        """Which of `emails` (suppression keys: normalised, lowercased) are on the tenant's suppression list."""
        ...


class TestSendQuota(Protocol):
    per_window: int  # test emails a tenant may send per window

    async def take(self, tenant_id: str, count: int, now: float) -> float | None:
        """Count `count` test emails against the tenant's quota: None when they fit, else seconds until they would."""
        ...
