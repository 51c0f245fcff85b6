"""The template service's FastAPI app: one S3 client and one sandbox renderer per process, opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from herald_common.api_keys import ApiKeyRegistry
from herald_common.audit import AuditedRoute, AuditLog, AuditTrail
from herald_common.aws import open_clients
from herald_common.web import create_service_app
from herald_template.config import Settings
from herald_template.rendering import SandboxRenderer
from herald_template.templates.api import router
from herald_template.templates.repository import S3TemplateStore
from herald_template.templates.service import TemplateService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

DESCRIPTION = """Versioned email templates on S3 and a sandboxed Jinja2 render API.

HTML is autoescaped; a missing variable is an error for that recipient only; built-ins `email` and
`unsubscribe_url`. Template size, render time and output size are bounded: a template that reaches for Python
internals or tries to exhaust the service gets 422 and the service stays healthy."""


# Template saves are the template service's only state change (herald_common.audit).
AUDITED_ROUTES = (
    AuditedRoute("PUT", "/templates/{templateId}", "template.save", target_param="templateId", details=("version",)),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            clients = await open_clients(stack, settings, "s3", "dynamodb")
            store = S3TemplateStore(clients.require_s3(), settings.resources.bucket)
            renderer = SandboxRenderer(
                settings.render_limits(),
                workers=settings.render_workers,
                compiled_cache_size=settings.template_cache_size,
                result_cache_bytes=settings.render_cache_bytes,
                call_time_limit=settings.render_call_time_limit_seconds,
            )
            stack.callback(renderer.close)
            # Renders are pure-Python CPU work sharing one GIL: fewer, longer turns between the render threads cost
            # less CPU than the default 5 ms ones and still let every request in within a turn.
            stack.callback(sys.setswitchinterval, sys.getswitchinterval())
            sys.setswitchinterval(settings.render_switch_interval_seconds)
            app.state.template_store = store
            audit_log = AuditLog(
                clients.require_dynamodb(),
                settings.resources.audit_table,
                spool_size=settings.audit_spool_size,
                flush_interval=settings.audit_flush_seconds,
            )
            app.state.audit_log = audit_log
            stack.push_async_callback(audit_log.flush)  # last chance for spooled records, after the retry task
            spool = asyncio.create_task(audit_log.run(), name="template-audit-spool")
            stack.push_async_callback(_stop_task, spool)
            app.state.template_service = TemplateService(store, renderer, max_recipients=settings.render_max_recipients)
            yield

    async def readiness(app: FastAPI) -> None:
        store: S3TemplateStore = app.state.template_store
        await store.check()

    app = create_service_app(
        title="Herald template service",
        description=DESCRIPTION,
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
        max_request_bytes=settings.template_max_request_bytes,
    )
    app.state.api_keys = ApiKeyRegistry(settings.template_api_keys, service_key=settings.service_key.get_secret_value())
    app.add_middleware(AuditTrail, routes=AUDITED_ROUTES)
    app.include_router(router)
    return app


async def _stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
