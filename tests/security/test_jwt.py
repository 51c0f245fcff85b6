"""Token attacks, one test each, against a real app in RS256 mode whose keys come from a JWKS served over HTTP.

Every refusal must be the same 401 with the same body: the attacker learns nothing about which check failed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from herald_common.api_keys import DEV_SERVICE_KEY, key_digest
from herald_common.auth import INVALID_CREDENTIALS, StreamViewer, Viewer, mint_token
from herald_common.settings import ConfigurationError, HeraldSettings
from herald_common.web import create_service_app
from herald_processor.config import Settings as ProcessorSettings
from tests.security.jwt_fixtures import AUDIENCE, ISSUER, JwksServer, RsaKey, claims, forge

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

KEY = RsaKey("key-2026-01")
ROTATED = RsaKey("key-2026-02")
ATTACKER = RsaKey("key-2026-01")  # same kid as the real key, different key material
UNAUTHORIZED = {"error": "Unauthorized", "detail": INVALID_CREDENTIALS}


@asynccontextmanager
async def _nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


def _app(settings: HeraldSettings) -> FastAPI:
    app = create_service_app(title="t", description="t", settings=settings, lifespan=_nothing)

    @app.get("/read")
    async def read(principal: Viewer) -> dict[str, Any]:
        return {"tenant": principal.tenant_id, "subject": principal.subject}

    @app.get("/stream")
    async def stream(principal: StreamViewer) -> dict[str, Any]:
        return {"tenant": principal.tenant_id}

    return app


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer([KEY]) as server:
        yield server


@pytest.fixture
def rs256_app(jwks: JwksServer) -> FastAPI:
    settings = HeraldSettings(jwks_url=jwks.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_refresh_min_seconds=60)
    return _app(settings)


async def _get(app: FastAPI, token: str | None, path: str = "/read") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get(path, headers=headers)


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_valid_rs256_token_is_admitted(rs256_app: FastAPI) -> None:
    response = await _get(rs256_app, KEY.sign(claims()))
    assert response.status_code == 200
    assert response.json() == {"tenant": "acme", "subject": "user-1"}


async def test_alg_none_is_refused(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, forge({"alg": "none", "typ": "JWT", "kid": KEY.kid}, claims(), None)))


async def test_hs256_signed_with_the_rsa_public_key_is_refused(rs256_app: FastAPI) -> None:
    # Key confusion: a verifier that let the token pick HS256 would check this HMAC against the public key it holds.
    token = forge({"alg": "HS256", "typ": "JWT", "kid": KEY.kid}, claims(roles=["admin"]), KEY.public_pem)
    _assert_refused(await _get(rs256_app, token))


async def test_a_wrong_signature_is_refused(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, ATTACKER.sign(claims())))


async def test_a_tampered_payload_is_refused(rs256_app: FastAPI) -> None:
    header, _, signature = KEY.sign(claims()).split(".")
    other_payload = KEY.sign(claims(tenant_id="globex")).split(".")[1]
    _assert_refused(await _get(rs256_app, f"{header}.{other_payload}.{signature}"))


async def test_an_expired_token_is_refused(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, KEY.sign(claims(exp=int(time.time()) - 60))))


async def test_a_token_without_exp_is_refused(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, KEY.sign(claims(exp=None))))


async def test_a_wrong_issuer_is_refused(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, KEY.sign(claims(iss="https://evil.example/"))))


async def test_a_wrong_audience_is_refused(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, KEY.sign(claims(aud="another-api"))))


@pytest.mark.parametrize("missing", ["tenant_id", "roles", "sub", "iss", "aud"])
async def test_a_token_missing_a_required_claim_is_refused(rs256_app: FastAPI, missing: str) -> None:
    _assert_refused(await _get(rs256_app, KEY.sign(claims(**{missing: None}))))


@pytest.mark.parametrize("tenant", ["", "acme/other", "acme#x", "a" * 65, 42])
async def test_a_tenant_id_that_could_reach_into_another_key_is_refused(rs256_app: FastAPI, tenant: object) -> None:
    # Tenant ids prefix DynamoDB and S3 keys: `acme/other` must never list under `templates/acme/`.
    _assert_refused(await _get(rs256_app, KEY.sign(claims(tenant_id=tenant))))


async def test_a_token_signed_with_the_dev_secret_is_refused_in_rs256_mode(rs256_app: FastAPI) -> None:
    dev = HeraldSettings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    _assert_refused(await _get(rs256_app, mint_token(dev, tenant_id="acme", roles=["admin"])))


async def test_missing_and_malformed_credentials_are_the_same_401(rs256_app: FastAPI) -> None:
    _assert_refused(await _get(rs256_app, None))
    _assert_refused(await _get(rs256_app, "not-a-jwt"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rs256_app), base_url="http://t") as client:
        _assert_refused(await client.get("/read", headers={"Authorization": f"Basic {KEY.sign(claims())}"}))


async def test_an_unknown_kid_is_accepted_after_the_provider_rotates_its_keys(
    rs256_app: FastAPI, jwks: JwksServer
) -> None:
    assert (await _get(rs256_app, KEY.sign(claims()))).status_code == 200
    assert jwks.requests == 1
    jwks.keys = [KEY, ROTATED]  # the provider publishes a new key and starts signing with it
    response = await _get(rs256_app, ROTATED.sign(claims(sub="user-2")))
    assert response.status_code == 200
    assert response.json()["subject"] == "user-2"
    assert jwks.requests == 2
    # Both keys are now cached: no further fetch.
    assert (await _get(rs256_app, KEY.sign(claims()))).status_code == 200
    assert (await _get(rs256_app, ROTATED.sign(claims()))).status_code == 200
    assert jwks.requests == 2


async def test_made_up_kids_cannot_make_every_request_fetch_the_key_set(rs256_app: FastAPI, jwks: JwksServer) -> None:
    assert (await _get(rs256_app, KEY.sign(claims()))).status_code == 200
    forged = [ATTACKER.sign(claims(), kid=f"made-up-{i}") for i in range(20)]
    responses = await asyncio.gather(*(_get(rs256_app, t) for t in forged))
    for response in responses:
        _assert_refused(response)
    assert jwks.requests == 2  # the first load, then one refresh for all of them (then none for 60 s)


async def test_the_stream_token_may_come_as_the_access_token_query_parameter(rs256_app: FastAPI) -> None:
    token = KEY.sign(claims(tenant_id="globex"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rs256_app), base_url="http://t") as client:
        streamed = await client.get("/stream", params={"access_token": token})
        assert streamed.status_code == 200
        assert streamed.json() == {"tenant": "globex"}
        _assert_refused(await client.get("/stream", params={"access_token": ATTACKER.sign(claims())}))
        _assert_refused(await client.get("/stream"))
        # Only the stream takes a token from the URL: anywhere else it would leak into logs and histories.
        _assert_refused(await client.get("/read", params={"access_token": token}))


async def test_an_unreachable_key_set_is_503_not_a_crash() -> None:
    settings = HeraldSettings(jwks_url="http://127.0.0.1:9/jwks.json", jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    response = await _get(_app(settings), KEY.sign(claims()))
    assert response.status_code == 503
    assert response.json()["error"] == "ServiceUnavailable"


async def test_cached_keys_keep_working_while_the_provider_is_down(jwks: JwksServer) -> None:
    settings = HeraldSettings(
        jwks_url=jwks.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_cache_seconds=0.2, jwks_refresh_min_seconds=0
    )
    app = _app(settings)
    assert (await _get(app, KEY.sign(claims()))).status_code == 200
    jwks.__exit__()  # the provider goes away; the cache expires
    await asyncio.sleep(0.3)
    assert (await _get(app, KEY.sign(claims()))).status_code == 200
    _assert_refused(await _get(app, ATTACKER.sign(claims(), kid="other")))


@pytest.mark.parametrize(
    "token",
    [
        forge({"alg": "none", "typ": "JWT"}, claims(iss="herald", aud="herald-api"), None),
        jwt.encode(claims(iss="herald", aud="herald-api"), "another-secret-of-thirty-two-bytes-x", algorithm="HS256"),
        KEY.sign(claims(iss="herald", aud="herald-api")),  # RS256 where HS256 is configured
    ],
    ids=["alg-none", "wrong-secret", "rs256-in-hs256-mode"],
)
async def test_dev_mode_accepts_only_hs256_with_its_secret(token: str) -> None:
    _assert_refused(await _get(_app(HeraldSettings()), token))


PROD_SECRETS = {"HERALD_UNSUBSCRIBE_SECRET": "u" * 40, "HERALD_SERVICE_KEY": "k" * 40}


def _start(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    command = [str(Path(sys.executable).parent / script), "--port", "1"]  # never binds: it must refuse before
    return subprocess.run(command, env=clean | env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("script", "env", "named"),
    [
        ("herald-campaign", {"HERALD_ENV": "prod"} | PROD_SECRETS, "HERALD_JWT_SECRET"),
        ("herald-campaign", {"HERALD_ENV": "prod", "HERALD_JWT_SECRET": "short"} | PROD_SECRETS, "HERALD_JWT_SECRET"),
        (
            "herald-analytics",
            {"HERALD_ENV": "prod", "HERALD_JWKS_URL": "http://id.example/jwks.json"} | PROD_SECRETS,
            "HERALD_JWKS_URL",
        ),
        (
            "herald-processor",
            {"HERALD_ENV": "prod", "HERALD_JWT_SECRET": "j" * 40, "HERALD_UNSUBSCRIBE_SECRET": "u" * 40},
            "HERALD_SERVICE_KEY",
        ),
        (
            "herald-template",
            {
                "HERALD_ENV": "prod",
                "HERALD_JWT_SECRET": "j" * 40,
                "HERALD_TEMPLATE_API_KEYS": json.dumps(
                    [{"name": "x", "sha256": key_digest(DEV_SERVICE_KEY), "tenants": ["acme"]}]
                ),
            }
            | PROD_SECRETS,
            "HERALD_TEMPLATE_API_KEYS",
        ),
    ],
    ids=["default-jwt-secret", "short-jwt-secret", "plain-http-jwks", "default-service-key", "dev-key-in-team-keys"],
)
def test_prod_refuses_to_start_with_a_default_or_weak_secret(script: str, env: dict[str, str], named: str) -> None:
    result = _start(script, env)
    assert result.returncode != 0
    assert named in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_prod_settings_accept_real_secrets() -> None:
    settings = ProcessorSettings(env="prod", jwt_secret="j" * 40, unsubscribe_secret="u" * 40, service_key="k" * 40)
    assert settings.service_key.get_secret_value() == "k" * 40
    with pytest.raises(ConfigurationError, match="HERALD_SERVICE_KEY"):
        ProcessorSettings(env="prod", jwt_secret="j" * 40, unsubscribe_secret="u" * 40, service_key=DEV_SERVICE_KEY)


async def test_a_symmetric_key_published_in_the_key_set_never_verifies_a_token(jwks: JwksServer) -> None:
    secret = b"a-shared-secret-someone-published-by-mistake"
    oct_key = {"kty": "oct", "kid": "oct-1", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}

    class WithOct(RsaKey):
        def jwk(self) -> dict[str, Any]:
            return oct_key

    jwks.keys = [KEY, WithOct.__new__(WithOct)]
    settings = HeraldSettings(jwks_url=jwks.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    app = _app(settings)
    assert (await _get(app, KEY.sign(claims()))).status_code == 200
    _assert_refused(await _get(app, forge({"alg": "HS256", "typ": "JWT", "kid": "oct-1"}, claims(), secret)))
    _assert_refused(await _get(app, forge({"alg": "RS256", "typ": "JWT", "kid": "oct-1"}, claims(), secret)))
