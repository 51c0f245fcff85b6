"""`GET /reputation` (any role): the reputation guard's verdict on the tenant, for the dashboard's warning banner."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from herald_campaign.openapi_docs import errors
from herald_campaign.reputation.schemas import ReputationState
from herald_common.auth import Viewer

if TYPE_CHECKING:
    from herald_campaign.reputation.repository import DynamoReputationReader

router = APIRouter(prefix="/reputation", tags=["sending policy"])


@router.get("", response_model=ReputationState, response_model_exclude_none=True, responses=errors())
async def get_reputation(principal: Viewer, request: Request) -> ReputationState:
    """The tenant's sending reputation as analytics' guard last judged it over the last hour and day: `ok`, `warn`
    (a window at half the bounce or complaint limit) or `pause` (at the limit), with the scope, window and reason."""
    reader: DynamoReputationReader = request.app.state.reputation_reader
    return await reader.get(principal.tenant_id)
