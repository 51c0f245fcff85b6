"""Template routes: thin, they parse, call the service and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from herald_common.auth import Marketer, RenderCaller, Viewer  # noqa: TC001 (FastAPI resolves route annotations at runtime)
from herald_template.templates.models import TEMPLATE_ID_PATTERN
from herald_template.templates.schemas import (
    ErrorOut,
    InlineRenderRequest,
    RenderRequest,
    RenderResponse,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplateSaved,
    render_response_json,
)
from herald_template.templates.service import TemplateService

router = APIRouter(tags=["templates"])


def _error(description: str, code: str, detail: str) -> dict[str, Any]:
    return {
        "model": ErrorOut,
        "description": description,
        "content": {"application/json": {"example": {"error": code, "detail": detail}}},
    }


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("No token, or a bad one", "Unauthorized", "Missing bearer token."),
    404: _error(
        "`TemplateNotFound`: unknown template or version (another tenant's answers the same)",
        "TemplateNotFound",
        "Template 'newsletter' version 9 does not exist.",
    ),
    413: _error("The request body is over the size limit", "PayloadTooLarge", "The request body is over the limit."),
    422: _error(
        "Invalid body (field named), or a template that does not compile, is too large, reaches for "
        "internals (`UnsafeTemplate`) or exceeds a render bound (`RenderLimitExceeded`)",
        "UnsafeTemplate",
        "html line 1: access to '__class__' is not allowed.",
    ),
}


async def get_service(request: Request) -> TemplateService:
    # async: a plain `def` dependency would cost a thread-pool hop on every request.
    service: TemplateService = request.app.state.template_service
    return service


Service = Annotated[TemplateService, Depends(get_service)]
TemplateId = Annotated[str, Path(pattern=TEMPLATE_ID_PATTERN, description="User-chosen id, `[A-Za-z0-9_-]{1,64}`")]


@router.put(
    "/templates/{templateId}",
    response_model=TemplateSaved,
    status_code=status.HTTP_200_OK,
    responses={
        201: {"model": TemplateSaved, "description": "First version created"},
        403: _error("Needs the marketer role", "Forbidden", "This action needs the marketer role."),
        **{k: _ERRORS[k] for k in (401, 413, 422)},
    },
)
async def save_template(
    templateId: TemplateId,
    body: TemplateIn,
    principal: Marketer,
    service: Service,
    response: Response,
) -> TemplateSaved:
    """Validate and save a template as a new version: 201 for the first version, 200 for later ones."""
    saved = await service.save(
        principal.tenant_id, templateId, name=body.name, subject=body.subject, html=body.html, text=body.text
    )
    if saved.version == 1:
        response.status_code = status.HTTP_201_CREATED
    return TemplateSaved(template_id=saved.template_id, version=saved.version)


@router.get("/templates", response_model=TemplateList, responses={401: _ERRORS[401]})
async def list_templates(principal: Viewer, service: Service) -> TemplateList:
    """The tenant's templates, each with its version numbers and latest version."""
    return TemplateList.of(await service.list_templates(principal.tenant_id))


@router.get("/templates/{templateId}", response_model=TemplateOut, responses={k: _ERRORS[k] for k in (401, 404, 422)})
async def get_template(
    templateId: TemplateId,
    principal: Viewer,
    service: Service,
    version: Annotated[int | None, Query(ge=1, description="A version number (default: the latest)")] = None,
) -> TemplateOut:
    """One version of a template (the latest by default), with the list of all its versions."""
    found, versions = await service.get(principal.tenant_id, templateId, version)
    return TemplateOut.of(found, versions)


@router.post("/templates/{templateId}/render", response_model=RenderResponse, responses=_ERRORS)
async def render_template(
    templateId: TemplateId,
    body: RenderRequest,
    principal: RenderCaller,
    service: Service,
) -> Response:
    """Render a stored template for each recipient; a recipient whose data fails gets `{email, error}`."""
    recipients = [r.recipient() for r in body.recipients]
    outcome = await service.render(principal.tenant_id, templateId, body.version, recipients)
    return Response(render_response_json(outcome), media_type="application/json")


@router.post("/render", response_model=RenderResponse, responses={k: _ERRORS[k] for k in (401, 413, 422)})
async def render_inline(body: InlineRenderRequest, principal: RenderCaller, service: Service) -> Response:
    """Render a template given in the body (previews, other teams); nothing is stored."""
    recipients = [r.recipient() for r in body.recipients]
    outcome = await service.render_inline(principal.tenant_id, body.source(), recipients)
    return Response(render_response_json(outcome), media_type="application/json")
