"""The FastAPI kit every service is built from: error handlers, auth, request ids, health, readiness, metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from herald_common.auth import Authenticator
from herald_common.body_limit import BodySizeLimit
from herald_common.errors import error_body, install_error_handlers
from herald_common.metrics import HTTP_DURATION, HTTP_REQUESTS
from herald_common.openapi import install_error_documentation
from herald_common.rate_limit import RateLimiter, TenantRateLimit
from herald_common.request_ids import accept_request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from herald_common.settings import HeraldSettings


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def create_service_app(
    *,
    title: str,
    description: str,
    settings: HeraldSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Callable[[FastAPI], Awaitable[None]] | None = None,
    version: str = "0.1.0",
    max_request_bytes: int | None = None,
    body_limit_overrides: Sequence[tuple[str, str, int]] = (),
) -> FastAPI:
    """A FastAPI app with Herald's error shape, auth, request ids, `/healthz`, `/readyz` and `/metrics`, and the
    abuse limits: per-tenant request rate (429) and request body size (413; `max_request_bytes` replaces
    `settings.max_request_bytes`, `body_limit_overrides` gives routes their own)."""
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.authenticator = Authenticator(settings)
    install_error_handlers(app)
    install_error_documentation(app)
    # Outermost first to run: the rate limit answers before anything reads the body.
    app.add_middleware(
        BodySizeLimit, max_bytes=max_request_bytes or settings.max_request_bytes, overrides=body_limit_overrides
    )
    app.add_middleware(TenantRateLimit, limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst))

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = accept_request_id(request.headers.get("x-request-id"))
        request.state.request_id = request_id  # the audit trail records this one, even for a fault
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(requestId=request_id)
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        if route not in ("/metrics", "/healthz", "/readyz"):
            HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
            HTTP_DURATION.labels(request.method, route).observe(time.perf_counter() - started)
        response.headers["x-request-id"] = request_id
        return response

    @app.get("/healthz", tags=["operations"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], include_in_schema=False)
    async def readyz() -> Any:
        """The service's AWS dependencies answer."""
        if readiness is not None:
            try:
                await readiness(app)
            except Exception as exc:
                return JSONResponse(error_body("NotReady", str(exc)[:300]), status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
