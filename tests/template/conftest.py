"""Fixtures for the template service tests.

Provisioning a prefix costs a second or two, so the template tests share one (`template_settings`, session scope)
and keep apart by tenant instead: every test gets its own `tenant`, exactly the isolation the service promises.
"""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest

from herald_common.auth import mint_token
from herald_common.aws import open_clients
from herald_common.provisioning import provision
from herald_template.app import create_app
from herald_template.config import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import aioboto3
    from fastapi import FastAPI
    from types_aiobotocore_s3 import S3Client

    from herald_emulator import Emulator


@pytest.fixture(scope="session")
async def template_settings(emulator: Emulator, aws_session: aioboto3.Session) -> Settings:
    settings = Settings(resource_prefix="t" + secrets.token_hex(4), aws_endpoint_url=emulator.url)
    await provision(settings, session=aws_session)
    return settings


@pytest.fixture
def tenant() -> str:
    return "tenant-" + secrets.token_hex(4)


@pytest.fixture
async def s3(template_settings: Settings, aws_session: aioboto3.Session) -> AsyncIterator[S3Client]:
    async with AsyncExitStack() as stack:
        clients = await open_clients(stack, template_settings, "s3", session=aws_session)
        yield clients.require_s3()


@pytest.fixture(scope="session")
async def app(template_settings: Settings) -> AsyncIterator[FastAPI]:
    # One app for the suite: opening its S3 client loads botocore's models (a second or more); tenants keep tests apart.
    application = create_app(template_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://template.test", timeout=10) as http:
        yield http


@pytest.fixture
def auth(template_settings: Settings, tenant: str) -> Callable[..., dict[str, str]]:
    """`auth("viewer")` → the Authorization header of a caller with that role in this test's tenant."""

    def headers(*roles: str, tenant_id: str = tenant) -> dict[str, str]:
        token = mint_token(template_settings, tenant_id=tenant_id, roles=roles or ("marketer",))
        return {"Authorization": f"Bearer {token}"}

    return headers
