"""`GET /campaigns/{id}/sample-recipient`: the campaign's first stored recipient, so a template preview starts from
data the campaign will really render (an empty sample would make most templates' first preview an error)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from herald_campaign.campaigns.errors import CampaignNotFound
from herald_campaign.openapi_docs import NOT_FOUND, errors
from herald_common.auth import Viewer

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


class SampleRecipient(BaseModel):
    """The first stored recipient (null `email` while the campaign has none)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com", "data": {"first_name": "Ada"}}]}
    )

    email: str | None
    data: dict[str, Any]


@router.get("/{campaign_id}/sample-recipient", response_model=SampleRecipient, responses=errors((404, NOT_FOUND)))
async def sample_recipient(campaign_id: str, principal: Viewer, request: Request) -> SampleRecipient:
    """The campaign's first stored recipient (its address and personalisation data), for previews. 404 unknown."""
    campaign = await request.app.state.campaign_store.get(principal.tenant_id, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"Campaign {campaign_id} does not exist.")
    recipients = request.app.state.recipient_store.iter_recipients(
        principal.tenant_id, campaign_id, campaign.recipient_parts
    )
    async for first in recipients:
        await recipients.aclose()  # one line is all it needs: stop streaming the part
        return SampleRecipient(email=first.email, data=first.data)
    return SampleRecipient(email=None, data={})
