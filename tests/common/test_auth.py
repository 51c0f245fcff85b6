"""The JWT dependency: what it admits, what it refuses, and the SPEC error shape of its refusals."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
import jwt
import pytest
from fastapi import FastAPI

from herald_common.auth import Admin, Marketer, Role, Viewer, mint_token
from herald_common.settings import HeraldSettings
from herald_common.web import create_service_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SETTINGS = HeraldSettings(jwt_secret="unit-test-secret-of-thirty-two-bytes")


@asynccontextmanager
async def _nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    app = create_service_app(title="t", description="t", settings=SETTINGS, lifespan=_nothing)

    @app.get("/read")
    async def read(principal: Viewer) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    @app.post("/write")
    async def write(principal: Marketer) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    @app.delete("/admin")
    async def admin(principal: Admin) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    return app


async def _call(method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, headers=headers)


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "u1",
        "tenant_id": "acme",
        "roles": ["viewer"],
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "exp": now + 60,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def test_valid_token_reaches_route_with_its_tenant() -> None:
    token = mint_token(SETTINGS, tenant_id="acme", roles=["viewer"])
    response = await _call("GET", "/read", token)
    assert response.status_code == 200
    assert response.json() == {"tenant": "acme"}


@pytest.mark.parametrize(
    ("role", "path", "method", "status"),
    [
        ("viewer", "/write", "POST", 403),
        ("marketer", "/write", "POST", 200),
        ("marketer", "/admin", "DELETE", 403),
        ("admin", "/admin", "DELETE", 200),
        ("admin", "/read", "GET", 200),
    ],
)
async def test_roles_are_ranked(role: str, path: str, method: str, status: int) -> None:
    response = await _call(method, path, mint_token(SETTINGS, tenant_id="acme", roles=[role]))
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == "Forbidden"


def _forge_none_alg() -> str:
    return jwt.encode(_claims(), key=None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        jwt.encode(_claims(), "another-secret-of-thirty-two-bytes-x", algorithm="HS256"),
        jwt.encode(_claims(exp=int(time.time()) - 10), "unit-test-secret-of-thirty-two-bytes", algorithm="HS256"),
        jwt.encode(_claims(exp=None), "unit-test-secret-of-thirty-two-bytes", algorithm="HS256"),
        jwt.encode(_claims(iss="someone-else"), "unit-test-secret-of-thirty-two-bytes", algorithm="HS256"),
        jwt.encode(_claims(aud="another-api"), "unit-test-secret-of-thirty-two-bytes", algorithm="HS256"),
        jwt.encode(_claims(tenant_id=None), "unit-test-secret-of-thirty-two-bytes", algorithm="HS256"),
        _forge_none_alg(),
    ],
    ids=["missing", "garbage", "wrong-secret", "expired", "no-exp", "wrong-iss", "wrong-aud", "no-tenant", "alg-none"],
)
async def test_bad_tokens_are_401_in_the_error_shape(token: str | None) -> None:
    response = await _call("GET", "/read", token)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "Unauthorized"
    assert set(body) == {"error", "detail"}


def test_role_names_are_the_specs() -> None:
    assert {r.value for r in Role} == {"viewer", "marketer", "admin"}
