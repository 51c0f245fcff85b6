"""`GET /campaigns/{id}/recipients`: a campaign's recipients by state, paginated (the UI's drill-down)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from herald_analytics.recipients.schemas import RecipientPage, RecipientState
from herald_analytics.recipients.service import RecipientsService
from herald_common.auth import Viewer  # noqa: TC001 (FastAPI resolves route annotations at runtime)

router = APIRouter(prefix="/campaigns", tags=["recipients"])

MAX_PAGE = 1000


def recipients_service(request: Request) -> RecipientsService:
    service: RecipientsService = request.app.state.recipients_service
    return service


Recipients = Annotated[RecipientsService, Depends(recipients_service)]


@router.get("/{campaign_id}/recipients", response_model=RecipientPage)
async def campaign_recipients(
    campaign_id: str,
    principal: Viewer,
    service: Recipients,
    state: Annotated[RecipientState | None, Query(description="ledger state, delivery outcome or flag")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> RecipientPage:
    """The campaign's recipients in `state` (e.g. `bounced`), in address order, `limit` per page; pass the
    answer's `nextToken` to get the next page."""
    return await service.page(principal.tenant_id, campaign_id, state, limit, next_token)
