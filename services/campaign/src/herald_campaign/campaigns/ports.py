"""The ports the campaign service depends on: small Protocols, so rules are tested without a network and each
adapter is tested against the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence

    from herald_campaign.campaigns.fanout_store import DueCampaign
    from herald_campaign.campaigns.intake import Recipient
    from herald_campaign.campaigns.models import Campaign, CampaignStatus
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


class RecipientStore(Protocol):
    async def write_part(
        self, tenant_id: str, campaign_id: str, part: int, recipients: Sequence[Recipient]
    ) -> None: ...
    async def delete_part(self, tenant_id: str, campaign_id: str, part: int) -> None: ...
    def iter_recipients(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[Recipient]: ...


class JobQueue(Protocol):
    async def send(self, messages: Sequence[tuple[str, str]]) -> None:
        """Queue (entry id, JSON body) messages on the email-jobs queue."""


class FanoutStore(Protocol):
    async def find_due(self, *, now: str, epoch: int) -> list[DueCampaign]: ...
    async def claim_scheduled(self, due: DueCampaign, *, owner: str, lease_until: int, now: str) -> Campaign | None: ...
    async def claim_abandoned(self, due: DueCampaign, *, owner: str, lease_until: int) -> Campaign | None: ...
    async def heartbeat(self, c: Campaign, *, owner: str, queued: int, lease_until: int) -> CampaignStatus | None: ...
    async def finish(self, c: Campaign, *, owner: str, batch_count: int, now: str) -> bool: ...
    async def fail(self, c: Campaign, *, reason: str, now: str) -> bool: ...
    async def release(self, c: Campaign, *, owner: str) -> None: ...


class TemplateCatalog(Protocol):
    async def latest_version(self, template_id: str, authorization: str | None) -> int:
        """The template's latest version, asked with the caller's own credentials. TemplateNotFound if absent."""
        ...
