"""Sending policy decisions: store what the admin sent (validated by the schema), read it back (empty when unset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from herald_campaign.campaigns.models import iso, utc_now
from herald_campaign.sending_policy.schemas import SendingPolicy

if TYPE_CHECKING:
    from herald_campaign.sending_policy.repository import DynamoSendingPolicyStore

log = structlog.get_logger("herald.campaign.sending_policy")


class SendingPolicyService:
    def __init__(self, store: DynamoSendingPolicyStore) -> None:
        self._store = store

    async def put(self, tenant_id: str, policy: SendingPolicy) -> SendingPolicy:
        """Replace the tenant's policy; the processors pick it up within their policy cache time."""
        await self._store.put(tenant_id, policy.model_dump_json(by_alias=True, exclude_none=True), iso(utc_now()))
        log.info("sending_policy.updated", tenantId=tenant_id, providers=sorted(policy.providers))
        return policy

    async def get(self, tenant_id: str) -> SendingPolicy:
        raw = await self._store.get(tenant_id)
        return SendingPolicy() if raw is None else SendingPolicy.model_validate_json(raw)
