"""Listing a campaign's recipients by state: tenant scoping and page tokens."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Protocol

from herald_analytics.errors import CampaignNotFound, InvalidPageToken
from herald_analytics.recipients.schemas import RecipientEntry, RecipientPage

if TYPE_CHECKING:
    from herald_analytics.recipients.schemas import RecipientState
    from herald_analytics.stats.watchers import CampaignSource


class LedgerSource(Protocol):
    async def page(
        self, tenant_id: str, campaign_id: str, state: RecipientState | None, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None, bool]:
        """Up to `limit` rows after the email `after`, the email to resume after (or None), and whether the read
        bound cut the page short."""


def encode_token(campaign_id: str, after: str) -> str:
    raw = json.dumps({"c": campaign_id, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(campaign_id: str, token: str) -> str:
    """The email a page resumes after; `InvalidPageToken` for a token not handed out for this campaign."""
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidPageToken("nextToken is not one this service handed out.") from exc
    if not isinstance(document, dict) or document.get("c") != campaign_id or not isinstance(document.get("a"), str):
        raise InvalidPageToken("nextToken is not one this service handed out for this campaign.")
    return str(document["a"])


def _entry(row: dict[str, Any]) -> RecipientEntry:
    fields = {name: row[name] for name in RecipientEntry.model_fields if isinstance(row.get(name), str)}
    return RecipientEntry(**{**fields, "state": row.get("state") or "pending"})


class RecipientsService:
    def __init__(self, campaigns: CampaignSource, ledger: LedgerSource) -> None:
        self._campaigns = campaigns
        self._ledger = ledger

    async def page(
        self, tenant_id: str, campaign_id: str, state: RecipientState | None, limit: int, token: str | None
    ) -> RecipientPage:
        """One page of the campaign's recipients in `state` (all when None), in address order."""
        if await self._campaigns.get(tenant_id, campaign_id) is None:
            raise CampaignNotFound(f"Campaign {campaign_id} does not exist.")
        after = decode_token(campaign_id, token) if token else None
        rows, resume, scan_limited = await self._ledger.page(tenant_id, campaign_id, state, limit, after)
        return RecipientPage(
            campaignId=campaign_id,
            state=state,
            recipients=[_entry(row) for row in rows],
            nextToken=encode_token(campaign_id, resume) if resume else None,
            scanLimited=scan_limited,
        )
