"""Suppression list decisions: keys are normalised lowercased addresses (the ledger's key), one list per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from herald_campaign.campaigns.intake import suppression_key
from herald_campaign.campaigns.models import iso, utc_now
from herald_campaign.dynamo import decode_page_token, encode_page_token
from herald_campaign.suppressions.repository import Suppression
from herald_common.errors import NotFound

if TYPE_CHECKING:
    from herald_campaign.suppressions.repository import DynamoSuppressionStore

log = structlog.get_logger("herald.campaign.suppressions")


class SuppressionNotFound(NotFound):
    code = "SuppressionNotFound"


class SuppressionService:
    def __init__(self, store: DynamoSuppressionStore) -> None:
        self._store = store

    async def add(
        self, tenant_id: str, email: str, reason: str, campaign_id: str | None = None
    ) -> tuple[Suppression, bool]:
        """Suppress the address (idempotent): (the entry, whether it is new)."""
        entry = Suppression(tenant_id, suppression_key(email), reason, iso(utc_now()), campaign_id)
        stored, created = await self._store.add(entry)
        if created:
            log.info("suppression.added", tenantId=tenant_id, reason=reason, campaignId=campaign_id)
        return stored, created

    async def remove(self, tenant_id: str, email: str) -> None:
        if not await self._store.remove(tenant_id, suppression_key(email)):
            raise SuppressionNotFound(f"'{email}' is not on the suppression list.")
        log.info("suppression.removed", tenantId=tenant_id)

    async def list_page(
        self, tenant_id: str, *, limit: int, next_token: str | None
    ) -> tuple[list[Suppression], str | None]:
        start = decode_page_token(next_token, tenant_id=tenant_id, keys=("tenantId", "email"))
        entries, last = await self._store.list_page(tenant_id, limit=limit, start_key=start)
        return entries, encode_page_token(last)
