"""Reading the tenant's audit trail: pages of records, newest first, filtered by action, target and time."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from herald_campaign.audit.schemas import AuditRecordView
from herald_campaign.dynamo import decode_page_token, encode_page_token

if TYPE_CHECKING:
    from herald_campaign.audit.repository import DynamoAuditReader


class AuditService:
    def __init__(self, reader: DynamoAuditReader) -> None:
        self._reader = reader

    async def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        next_token: str | None,
        action: str | None,
        target: str | None,
        since: str | None,
        until: str | None,
    ) -> tuple[list[AuditRecordView], str | None]:
        start = decode_page_token(next_token, tenant_id=tenant_id, keys=("tenantId", "recordId"))
        items, last = await self._reader.page(
            tenant_id, limit=limit, start_key=start, action=action, target=target, since=since, until=until
        )
        return [_view(i) for i in items], encode_page_token(last)


def _view(item: dict[str, Any]) -> AuditRecordView:
    details = item.get("details")
    return AuditRecordView(
        record_id=item["recordId"],
        time=item.get("time", ""),
        actor=item.get("actor", ""),
        action=item.get("action", ""),
        target=item.get("target"),
        outcome=item.get("outcome", ""),
        status=int(item.get("status", 0)),
        error=item.get("error"),
        request_id=item.get("requestId"),
        details=json.loads(details) if isinstance(details, str) else {},
    )
