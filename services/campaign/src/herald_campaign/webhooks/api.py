"""`/webhooks` (admin): create, list, delete an endpoint, and read its delivery log."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from fastapi import APIRouter, Request, Response, status

from herald_campaign.openapi_docs import error, errors
from herald_campaign.webhooks.schemas import DeliveryList, WebhookCreate, WebhookCreated, WebhookList
from herald_campaign.webhooks.service import WebhookService
from herald_common.auth import Admin

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_ADMIN_ONLY = error("The caller is not an admin", "Forbidden", "This action needs the 'admin' role.")
_NOT_FOUND = error(
    "Unknown endpoint (another tenant's answers the same)", "WebhookNotFound", "Webhook wh_… does not exist."
)
_REFUSED = error(
    "A URL Herald may not call (prod: https to public addresses only)",
    "WebhookUrlRefused",
    "The webhook host hooks.internal resolves to a non-public address (10.0.0.5).",
)


def _service(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhook_service
    return service


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=errors((403, _ADMIN_ONLY), (422, _REFUSED)),
)
async def create_webhook(body: WebhookCreate, principal: Admin, request: Request) -> WebhookCreated:
    """Register an endpoint for `events`; the answer's `secret` (`whsec_…`) signs every delivery and is shown only
    here. In prod the URL must be https and resolve to public addresses only (422 `WebhookUrlRefused`)."""
    return await _service(request).create(principal.tenant_id, body)


@router.get("", response_model=WebhookList, responses=errors((403, _ADMIN_ONLY)))
async def list_webhooks(principal: Admin, request: Request) -> WebhookList:
    """The tenant's endpoints (secrets are never shown again); a disabled one names why."""
    return await _service(request).list(principal.tenant_id)


@router.delete(
    "/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors((403, _ADMIN_ONLY), (404, _NOT_FOUND))
)
async def delete_webhook(webhook_id: str, principal: Admin, request: Request) -> Response:
    """Remove an endpoint; its pending retries end as `failed`. 404 `WebhookNotFound`."""
    await _service(request).delete(principal.tenant_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries", response_model=DeliveryList, responses=errors((403, _ADMIN_ONLY), (404, _NOT_FOUND))
)
async def webhook_deliveries(webhook_id: str, principal: Admin, request: Request) -> DeliveryList:
    """The endpoint's deliveries: each event's status, attempts, last answer and next attempt."""
    return await _service(request).deliveries(principal.tenant_id, webhook_id)
