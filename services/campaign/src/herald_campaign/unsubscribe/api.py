"""Public unsubscribe routes (no login): the link in every email and its RFC 8058 one-click POST."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from herald_campaign.openapi_docs import INVALID
from herald_campaign.suppressions.schemas import SuppressionReason
from herald_campaign.unsubscribe.page import SECURITY_HEADERS, confirm_page, done_page
from herald_common.audit import audit_as
from herald_common.errors import NotFound
from herald_common.unsubscribe import UnsubscribeTarget, verify_token

if TYPE_CHECKING:
    from herald_campaign.suppressions.service import SuppressionService

router = APIRouter(prefix="/u", tags=["unsubscribe"])


class UnsubscribeLinkInvalid(NotFound):
    code = "UnsubscribeLinkInvalid"


def _target(request: Request, token: str) -> UnsubscribeTarget:
    target = verify_token(request.app.state.settings.unsubscribe_secret, token) if len(token) <= 2048 else None
    if target is None:
        # Same answer as an unknown page: a forged link learns nothing.
        raise UnsubscribeLinkInvalid("This unsubscribe link is not valid.")
    return target


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.get("/{token}", response_class=HTMLResponse, responses={422: INVALID})
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The page an unsubscribe link opens: it asks for confirmation and unsubscribes only when its form is posted."""
    target = _target(request, token)
    return HTMLResponse(confirm_page(target.email), headers=SECURITY_HEADERS)


@router.post(
    "/{token}",
    responses={
        200: {
            "description": "Unsubscribed (HTML when the caller accepts it)",
            "content": {
                "application/json": {"example": {"status": "unsubscribed", "email": "ada@example.com"}},
                "text/html": {},
            },
        },
        404: {
            "description": "A link that is not valid (forged, or for another deployment)",
            "content": {
                "application/json": {
                    "example": {"error": "UnsubscribeLinkInvalid", "detail": "This unsubscribe link is not valid."}
                }
            },
        },
        422: INVALID,
    },
)
async def unsubscribe(token: str, request: Request) -> Response:
    """Unsubscribe: RFC 8058 one-click (`List-Unsubscribe=One-Click`) or the confirmation form. Idempotent: the
    address goes on the tenant's suppression list with reason `unsubscribe` (an existing entry is kept)."""
    target = _target(request, token)
    audit_as(request, tenant_id=target.tenant_id, actor="unsubscribe-link", target=target.email)
    service: SuppressionService = request.app.state.suppression_service
    await service.add(target.tenant_id, target.email, SuppressionReason.UNSUBSCRIBE.value, target.campaign_id)
    if _wants_html(request):
        return HTMLResponse(done_page(target.email), headers=SECURITY_HEADERS)
    body: dict[str, Any] = {"status": "unsubscribed", "email": target.email}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
