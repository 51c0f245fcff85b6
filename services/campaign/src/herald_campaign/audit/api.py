"""`GET /audit` (admin): the tenant's audit trail. There is no route that changes or removes a record."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request

from herald_campaign.audit.schemas import AuditPage
from herald_campaign.openapi_docs import error, errors
from herald_common.auth import Admin

if TYPE_CHECKING:
    from herald_campaign.audit.service import AuditService

router = APIRouter(prefix="/audit", tags=["audit"])

_TIME = r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]00:00)?)?$"


_ADMIN_ONLY = error("Only an admin reads the audit log", "Forbidden", "This action needs the 'admin' role.")


@router.get("", response_model=AuditPage, responses=errors((403, _ADMIN_ONLY)))
async def list_audit_records(
    principal: Admin,
    request: Request,
    action: Annotated[str | None, Query(max_length=64, description="e.g. `campaign.send`")] = None,
    target: Annotated[str | None, Query(max_length=512, description="A campaign id, address or template id")] = None,
    since: Annotated[str | None, Query(pattern=_TIME, description="ISO-8601 UTC, inclusive")] = None,
    until: Annotated[str | None, Query(pattern=_TIME, description="ISO-8601 UTC, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> AuditPage:
    """Who changed what in this tenant, newest first: every create, update, delete, recipient upload, send,
    pause, resume, cancel, retry-failed and test send of a campaign, every suppression change (unsubscribes
    included) and template save, with actor, target, time, request id and outcome (failed calls too). A filtered
    page may be shorter than `limit` and still have a next one."""
    service: AuditService = request.app.state.audit_service
    records, token = await service.page(
        principal.tenant_id,
        limit=limit,
        next_token=next_token,
        action=action,
        target=target,
        since=since.replace("+00:00", "").rstrip("Z") if since else None,
        until=until.replace("+00:00", "").rstrip("Z") if until else None,
    )
    return AuditPage(records=records, next_token=token)
