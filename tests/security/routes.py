"""Every route of every service, read from the FastAPI apps themselves, and the role each one needs.

`ROLE_MATRIX` is the contract (it is also the README's "Roles" table): a route the apps serve that is neither public
nor in the matrix fails the route × role test, so a new route cannot ship without deciding who may call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute
from starlette.routing import Route

from herald_analytics.app import create_app as analytics_app
from herald_campaign.app import create_app as campaign_app
from herald_processor.app import create_app as processor_app
from herald_template.app import create_app as template_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fastapi import FastAPI
    from fastapi.dependencies.models import Dependant

APPS: dict[str, Callable[[], FastAPI]] = {
    "campaign": campaign_app,
    "template": template_app,
    "analytics": analytics_app,
    "processor": processor_app,
}

# Served without a token on purpose: liveness, readiness and metrics (scraped inside the network), and the
# unsubscribe link, which works without login by design (its HMAC token is the credential).
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
PUBLIC_BY_SERVICE = {"campaign": {("GET", "/u/{token}"), ("POST", "/u/{token}")}}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

VIEWER, MARKETER, ADMIN = "viewer", "marketer", "admin"
ROLE_MATRIX: dict[str, dict[tuple[str, str], str]] = {
    "campaign": {
        ("POST", "/campaigns"): MARKETER,
        ("GET", "/campaigns"): VIEWER,
        ("GET", "/campaigns/{campaign_id}"): VIEWER,
        ("PATCH", "/campaigns/{campaign_id}"): MARKETER,
        ("DELETE", "/campaigns/{campaign_id}"): MARKETER,
        ("POST", "/campaigns/{campaign_id}/recipients"): MARKETER,
        ("GET", "/campaigns/{campaign_id}/invalid"): VIEWER,
        ("POST", "/campaigns/{campaign_id}/send"): MARKETER,
        ("POST", "/campaigns/{campaign_id}/pause"): MARKETER,
        ("POST", "/campaigns/{campaign_id}/resume"): MARKETER,
        ("POST", "/campaigns/{campaign_id}/cancel"): MARKETER,
        ("POST", "/campaigns/{campaign_id}/test-send"): MARKETER,
        ("POST", "/campaigns/{campaign_id}/retry-failed"): MARKETER,
        ("GET", "/campaigns/{campaign_id}/sender-authentication"): VIEWER,
        ("GET", "/campaigns/{campaign_id}/sample-recipient"): VIEWER,
        ("GET", "/suppressions"): ADMIN,
        ("POST", "/suppressions"): ADMIN,
        ("DELETE", "/suppressions/{email}"): ADMIN,
        ("GET", "/audit"): ADMIN,
        ("GET", "/sending-policy"): ADMIN,
        ("PUT", "/sending-policy"): ADMIN,
        ("GET", "/reputation"): VIEWER,
        ("POST", "/webhooks"): ADMIN,
        ("GET", "/webhooks"): ADMIN,
        ("DELETE", "/webhooks/{webhook_id}"): ADMIN,
        ("GET", "/webhooks/{webhook_id}/deliveries"): ADMIN,
    },
    "template": {
        ("GET", "/templates"): VIEWER,
        ("GET", "/templates/{templateId}"): VIEWER,
        ("PUT", "/templates/{templateId}"): MARKETER,
        ("POST", "/templates/{templateId}/render"): VIEWER,
        ("POST", "/render"): VIEWER,
    },
    "analytics": {
        ("GET", "/campaigns/{campaign_id}/stats"): VIEWER,
        ("GET", "/campaigns/{campaign_id}/stream"): VIEWER,
        ("GET", "/campaigns/{campaign_id}/recipients"): VIEWER,
        ("GET", "/campaigns/{campaign_id}/report"): VIEWER,
    },
    "processor": {},
}
# Routes that also take a render API key (`X-API-Key`), and the one that also takes `?access_token=`.
API_KEY_ROUTES = {("template", "POST", "/templates/{templateId}/render"), ("template", "POST", "/render")}
QUERY_TOKEN_ROUTES = {("analytics", "GET", "/campaigns/{campaign_id}/stream")}


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every API route, including those of included routers."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield from ((m, route.path, route) for m in sorted(route.methods))
        elif hasattr(route, "effective_route_contexts"):  # FastAPI ≥ 0.16x keeps included routers lazily
            for context in route.effective_route_contexts():
                original = context.original_route
                assert isinstance(original, APIRoute), f"unexpected route {original!r}"
                yield from ((m, context.path, original) for m in sorted(original.methods))
        elif isinstance(route, Route) and route.path in DOCS:
            continue
        else:
            raise AssertionError(f"a route this test cannot classify: {route!r}")


def required_role(dependant: Dependant) -> str | None:
    """The role a route's dependencies demand (`herald_common.auth.require_role`), None when none does."""
    for sub in dependant.dependencies:
        role: Any = getattr(sub.call, "required_role", None)
        if role is not None:
            return str(role.value)
        if (found := required_role(sub)) is not None:
            return found
    return None
