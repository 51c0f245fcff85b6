"""Suppression list routes (admin): the addresses the tenant's campaigns never send to."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response, status

from herald_campaign.openapi_docs import error, errors
from herald_campaign.suppressions.schemas import SuppressionCreate, SuppressionPage, SuppressionView
from herald_common.auth import Admin

if TYPE_CHECKING:
    from herald_campaign.suppressions.repository import Suppression
    from herald_campaign.suppressions.service import SuppressionService

router = APIRouter(prefix="/suppressions", tags=["suppressions"])
_ADMIN_ONLY = error("The caller is not an admin", "Forbidden", "This action needs the 'admin' role.")


def _service(request: Request) -> "SuppressionService":
    service: SuppressionService = request.app.state.suppression_service
    return service


def _view(s: "Suppression") -> SuppressionView:
    return SuppressionView(email=s.email, reason=s.reason, campaign_id=s.campaign_id, created_at=s.created_at)


@router.get("", response_model=SuppressionPage, responses=errors((403, _ADMIN_ONLY)))
async def list_suppressions(
    principal: Admin,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> SuppressionPage:
    """The tenant's suppressed addresses (by address), a page at a time; pass `nextToken` for the next page."""
    entries, token = await _service(request).list_page(principal.tenant_id, limit=limit, next_token=next_token)
    return SuppressionPage(suppressions=[_view(s) for s in entries], next_token=token)


@router.post(
    "",
    response_model=SuppressionView,
    status_code=status.HTTP_201_CREATED,
    responses=errors((200, {"description": "Already suppressed: the existing entry"}), (403, _ADMIN_ONLY)),
)
async def add_suppression(
    body: SuppressionCreate, principal: Admin, request: Request, response: Response
) -> SuppressionView:
    """Suppress an address (reason `manual` unless given). 201 when added; 200 with the existing entry (its reason
    unchanged) when it was already suppressed."""
    entry, created = await _service(request).add(principal.tenant_id, body.email, body.reason.value)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _view(entry)


@router.delete(
    "/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        (403, _ADMIN_ONLY),
        (404, error("Not on the list", "SuppressionNotFound", "'ada@example.com' is not on the suppression list.")),
    ),
)
async def remove_suppression(email: str, principal: Admin, request: Request) -> Response:
    """Take an address off the list, so campaigns may send to it again. 404 when it is not on it."""
    await _service(request).remove(principal.tenant_id, email)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
