"""`GET /campaigns/{id}/sender-authentication`: check the campaign's sending domain now."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from herald_campaign.openapi_docs import NOT_FOUND, errors
from herald_campaign.senders.schemas import SenderAuthenticationView
from herald_common.auth import Viewer

if TYPE_CHECKING:
    from herald_campaign.campaigns.service import CampaignService
    from herald_campaign.senders.service import SenderAuthenticator

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.get(
    "/{campaign_id}/sender-authentication", response_model=SenderAuthenticationView, responses=errors((404, NOT_FOUND))
)
async def sender_authentication(campaign_id: str, principal: Viewer, request: Request) -> SenderAuthenticationView:
    """Whether the campaign's from-address may send now: the SES identity is verified, and its domain publishes
    SPF, the SES Easy DKIM CNAMEs and DMARC. Nothing is stored; a send stores its own check on the campaign."""
    campaigns: CampaignService = request.app.state.campaign_service
    senders: SenderAuthenticator = request.app.state.sender_authenticator
    campaign = await campaigns.get(principal.tenant_id, campaign_id)
    result = await senders.check(campaign.from_address)
    return SenderAuthenticationView.model_validate(result.as_item())
