"""Helpers shared by the audit, limits, headers, unsubscribe and sender-authentication tests: the campaign app over
httpx.ASGITransport against the emulator (with the template service's stand-in from tests/campaign), and tokens."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx

from herald_campaign.app import create_app
from herald_campaign.config import Settings
from herald_common.auth import mint_token
from tests.campaign.conftest import FakeTemplates

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from herald_common.settings import HeraldSettings


def campaign_settings(base: HeraldSettings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "resource_prefix": base.resource_prefix,
        "aws_endpoint_url": base.aws_endpoint_url,
        "scheduler_interval_seconds": 0.2,
        "shutdown_grace_seconds": 5,
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def campaign_service(
    settings: Settings, templates: FakeTemplates | None = None, **app_kwargs: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The campaign app (lifespan running) and a client for it."""
    fake = templates or FakeTemplates()
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle), base_url="http://templates") as tc:
        app = create_app(settings, template_client=tc, **app_kwargs)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://campaign") as client:
                yield app, client


def bearer(
    settings: HeraldSettings, tenant: str = "acme", role: str = "marketer", subject: str | None = None
) -> dict[str, str]:
    token = mint_token(settings, tenant_id=tenant, roles=[role], subject=subject or f"{role}@{tenant}")
    return {"Authorization": f"Bearer {token}"}


CAMPAIGN = {"name": "Spring sale", "templateId": "newsletter", "fromAddress": "news@example.com"}


async def new_campaign(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/campaigns", json=CAMPAIGN | fields, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
