"""The campaign's first stored recipient, read from its recipient list (the first line of its first part)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from herald_campaign.campaigns.errors import CampaignNotFound

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_campaign.campaigns.intake import Recipient
    from herald_campaign.campaigns.models import Campaign


class Campaigns(Protocol):
    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None: ...


class RecipientLists(Protocol):
    def iter_recipients(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[Recipient]: ...


async def first_recipient(
    campaigns: Campaigns, lists: RecipientLists, tenant_id: str, campaign_id: str
) -> tuple[str | None, dict[str, Any]]:
    """(email, data) of the first stored recipient; (None, {}) while there is none. 404 for an unknown campaign."""
    campaign = await campaigns.get(tenant_id, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"Campaign {campaign_id} does not exist.")
    recipients = lists.iter_recipients(tenant_id, campaign_id, campaign.recipient_parts)
    async for first in recipients:
        await recipients.aclose()  # type: ignore[attr-defined]  # an async generator: stop reading the part
        return first.email, first.data
    return None, {}
