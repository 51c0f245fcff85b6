"""Sending policy routes (admin): per-provider rate limits for the whole fleet, and the warm-up ramp."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from herald_campaign.openapi_docs import error, errors
from herald_campaign.sending_policy.schemas import SendingPolicy
from herald_common.auth import Admin

if TYPE_CHECKING:
    from herald_campaign.sending_policy.service import SendingPolicyService

router = APIRouter(prefix="/sending-policy", tags=["sending policy"])
_ADMIN_ONLY = error("The caller is not an admin", "Forbidden", "This action needs the 'admin' role.")


def _service(request: Request) -> "SendingPolicyService":
    service: SendingPolicyService = request.app.state.sending_policy_service
    return service


@router.get("", response_model=SendingPolicy, response_model_exclude_none=True, responses=errors((403, _ADMIN_ONLY)))
async def get_sending_policy(principal: Admin, request: Request) -> SendingPolicy:
    """The tenant's sending policy (`{providers: {}}` when none was set)."""
    return await _service(request).get(principal.tenant_id)


@router.put("", response_model=SendingPolicy, response_model_exclude_none=True, responses=errors((403, _ADMIN_ONLY)))
async def put_sending_policy(body: SendingPolicy, principal: Admin, request: Request) -> SendingPolicy:
    """Replace the tenant's sending policy: per-provider limits per minute and per hour (held across every processor,
    beside the campaign's and the account's limits), and the warm-up ramp of new sending domains."""
    return await _service(request).put(principal.tenant_id, body)
