"""Campaign routes: parse, call the service, answer. Rules live in service.py and rules.py."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status

from herald_campaign.campaigns.errors import NotImplementedYet, UnsupportedMediaType
from herald_campaign.campaigns.models import CampaignStatus
from herald_campaign.campaigns.parsers import iter_csv_recipients, iter_json_recipients
from herald_campaign.campaigns.rules import CampaignAction
from herald_campaign.campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignView,
    RecipientsAdded,
    SendRequest,
    StatusChange,
)
from herald_common.auth import Marketer, Role, Viewer, require_role

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import Any

    from herald_campaign.campaigns.service import CampaignService

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["recipients"],
                    "properties": {
                        "recipients": {"type": "array", "items": {"$ref": "#/components/schemas/RecipientIn"}}
                    },
                }
            },
            "text/csv": {
                "schema": {"type": "string", "description": "A header row with `email`; other columns become `data`."}
            },
        },
    }
}


def _service(request: Request) -> "CampaignService":
    service: CampaignService = request.app.state.campaign_service
    return service


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CampaignView)
async def create_campaign(body: CampaignCreate, principal: Marketer, request: Request) -> CampaignView:
    """Create a draft campaign. Inline recipients are validated, normalised and de-duplicated; the campaign's counts
    say how many were accepted, invalid or duplicates."""
    campaign = await _service(request).create(principal.tenant_id, body)
    return CampaignView.of(campaign)


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    principal: Viewer,
    request: Request,
    status_filter: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> CampaignPage:
    """The caller's tenant's campaigns, newest first, optionally of one status. Pass `nextToken` from one page to get
    the next; a filtered page may be shorter than `limit` and still have a next one."""
    campaigns, token = await _service(request).list_page(
        principal.tenant_id, status=status_filter, limit=limit, next_token=next_token
    )
    return CampaignPage(campaigns=[CampaignView.of(c) for c in campaigns], next_token=token)


@router.get("/{campaign_id}", response_model=CampaignView)
async def get_campaign(campaign_id: str, principal: Viewer, request: Request) -> CampaignView:
    """One campaign: definition, status, schedule, throttle and counts. Another tenant's campaign answers 404."""
    return CampaignView.of(await _service(request).get(principal.tenant_id, campaign_id))


@router.post("/{campaign_id}/recipients", response_model=RecipientsAdded, openapi_extra=_UPLOAD_BODY)
async def add_recipients(campaign_id: str, principal: Marketer, request: Request) -> RecipientsAdded:
    """Append recipients to a draft: JSON `{recipients: [{email, data?}]}` or `text/csv` with an `email` column.
    The body is parsed as it streams in and stored in parts, so very large lists are fine. 409 unless draft."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    items: AsyncIterator[Any]
    if content_type in ("application/json", ""):
        items = iter_json_recipients(request.stream())
    elif content_type in ("text/csv", "application/csv"):
        items = iter_csv_recipients(request.stream())
    else:
        raise UnsupportedMediaType("Send recipients as application/json or text/csv.")
    counts = await _service(request).add_recipients(principal.tenant_id, campaign_id, items)
    return RecipientsAdded(**counts.as_response())


@router.post("/{campaign_id}/send", status_code=status.HTTP_202_ACCEPTED, response_model=StatusChange)
async def send_campaign(
    campaign_id: str,
    body: SendRequest,
    principal: Marketer,
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> StatusChange:
    """Send now (`sendAt: "immediate"`) or schedule (`sendAt` an ISO-8601 time). Answers 202 at once; batches are
    queued in the background. 404 unknown; 409 already sent, sending or scheduled; 400 cancelled, failed, no
    recipients or unknown template; 403 without the marketer role."""
    new_status = await _service(request).send(principal, campaign_id, body, authorization)
    return StatusChange(campaign_id=campaign_id, status=new_status)


async def _change(request: Request, principal: Marketer, campaign_id: str, action: CampaignAction) -> StatusChange:
    new_status = await _service(request).change_status(principal, campaign_id, action)
    return StatusChange(campaign_id=campaign_id, status=new_status)


@router.post("/{campaign_id}/pause", status_code=status.HTTP_202_ACCEPTED, response_model=StatusChange)
async def pause_campaign(campaign_id: str, principal: Marketer, request: Request) -> StatusChange:
    """sending → paused: processors stop sending its batches until it is resumed. 409 from any other status."""
    return await _change(request, principal, campaign_id, CampaignAction.PAUSE)


@router.post("/{campaign_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=StatusChange)
async def resume_campaign(campaign_id: str, principal: Marketer, request: Request) -> StatusChange:
    """paused → sending. 409 from any other status."""
    return await _change(request, principal, campaign_id, CampaignAction.RESUME)


@router.post("/{campaign_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=StatusChange)
async def cancel_campaign(campaign_id: str, principal: Marketer, request: Request) -> StatusChange:
    """draft, scheduled, sending or paused → cancelled: nothing more is queued or sent. 409 otherwise."""
    return await _change(request, principal, campaign_id, CampaignAction.CANCEL)


@router.post(
    "/{campaign_id}/test-send",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_role(Role.MARKETER))],
    responses={501: {"description": "Not available yet"}},
)
async def test_send(campaign_id: str) -> None:
    """Render and send the campaign to a few addresses, outside the statistics. Not available yet: 501."""
    raise NotImplementedYet(f"Test sends are not available yet (campaign '{campaign_id}').")
