"""`GET /campaigns/{id}/sample-recipient`: the campaign's first stored recipient, so a template preview starts from
data the campaign will really render (an empty sample would make most templates' first preview an error)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from herald_campaign.openapi_docs import NOT_FOUND, errors
from herald_campaign.preview.service import first_recipient
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
    email, data = await first_recipient(
        request.app.state.campaign_store, request.app.state.recipient_store, principal.tenant_id, campaign_id
    )
    return SampleRecipient(email=email, data=data)
