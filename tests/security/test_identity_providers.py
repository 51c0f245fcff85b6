"""Tokens as real identity providers issue them, under the claim-mapping settings (SPEC "Identity from any OIDC
provider"): each provider's token shape is admitted once `HERALD_JWT_TENANT_CLAIM` and `HERALD_JWT_ROLES_CLAIM` name
its claims, signed by a key of the JWKS served over HTTP on 127.0.0.1; another key, another audience or a missing
tenant claim is the generic 401. The last tests run the four services as processes with Cognito's settings.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from herald_cli.stack import DevStack
from herald_common.auth import INVALID_CREDENTIALS, Viewer, mint_token
from herald_common.errors import Unauthorized
from herald_common.settings import ConfigurationError, HeraldSettings
from herald_common.web import create_service_app
from herald_processor.app import create_app as processor_app
from tests.security.jwt_fixtures import JwksServer, RsaKey

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

KEY = RsaKey("idp-key-1")
OTHER_KEY = RsaKey("idp-key-1")  # the same kid, another key: a forger's
UNAUTHORIZED = {"error": "Unauthorized", "detail": INVALID_CREDENTIALS}

COGNITO_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example1"
COGNITO_CLIENT = "5nq3e8b1c0example0client7"
COGNITO = {"jwt_tenant_claim": "custom:tenant_id", "jwt_roles_claim": "cognito:groups"}


def _now() -> int:
    return int(time.time())


def cognito_id_token(**overrides: Any) -> dict[str, Any]:
    """An ID token of a Cognito user pool: `aud` is the app client, groups and custom attributes are claims."""
    claims = {
        "sub": "7c1e0b3a-1f2d-4c5e-9a8b-0d1e2f3a4b5c",
        "cognito:groups": ["marketer"],
        "custom:tenant_id": "acme",
        "iss": COGNITO_ISSUER,
        "aud": COGNITO_CLIENT,
        "token_use": "id",
        "auth_time": _now(),
        "cognito:username": "maria",
        "email": "maria@acme.example",
        "iat": _now(),
        "exp": _now() + 3600,
    }
    return {k: v for k, v in (claims | overrides).items() if v is not None}


def cognito_access_token(**overrides: Any) -> dict[str, Any]:
    """An access token of a Cognito user pool: no `aud`, the app client in `client_id`, scopes in `scope`; the
    tenant attribute is there when a pre-token-generation trigger adds it."""
    claims = cognito_id_token(token_use="access", scope="openid email", client_id=COGNITO_CLIENT, aud=None)
    return {k: v for k, v in (claims | overrides).items() if v is not None}


# Each provider: the settings that name its claims, and a token as it issues one (its own issuer and audience).
PROVIDERS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "cognito-id-token": ({**COGNITO, "jwt_audience": COGNITO_CLIENT}, cognito_id_token()),
    "cognito-access-token": ({**COGNITO, "jwt_audience": COGNITO_CLIENT}, cognito_access_token()),
    "entra-id": (
        {"jwt_tenant_claim": "extension_herald_tenant", "jwt_roles_claim": "roles", "jwt_audience": "api://herald"},
        {
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",  # the directory, not the Herald tenant
            "extension_herald_tenant": "acme",
            "roles": ["marketer"],
            "scp": "campaigns.send",
            "iss": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
            "aud": "api://herald",
            "ver": "2.0",
        },
    ),
    "okta": (
        {"jwt_tenant_claim": "tenant", "jwt_roles_claim": "groups", "jwt_audience": "api://herald"},
        {
            "sub": "00uid4BxXw6I6TV4m0g3",
            "tenant": "acme",
            "groups": ["Everyone", "marketer"],
            "cid": "0oa1example",
            "scp": ["openid", "profile"],
            "iss": "https://dev-123456.okta.com/oauth2/default",
            "aud": "api://herald",
        },
    ),
    "auth0": (
        {
            "jwt_tenant_claim": "https://herald.example/tenant_id",
            "jwt_roles_claim": "https://herald.example/roles",
            "jwt_audience": "https://api.herald.example",
        },
        {
            "sub": "auth0|6541f0c2e8b1a2b3c4d5e6f7",
            "https://herald.example/tenant_id": "acme",
            "https://herald.example/roles": ["marketer"],
            "iss": "https://herald.eu.auth0.com/",
            "aud": ["https://api.herald.example", "https://herald.eu.auth0.com/userinfo"],
            "azp": "auth0clientid",
            "scope": "openid profile",
        },
    ),
    "keycloak": (
        {"jwt_tenant_claim": "tenant_id", "jwt_roles_claim": "realm_access.roles", "jwt_audience": "herald-api"},
        {
            "sub": "f1b2c3d4-0000-4000-8000-000000000001",
            "tenant_id": "acme",
            "realm_access": {"roles": ["offline_access", "marketer", "default-roles-herald"]},
            "resource_access": {"account": {"roles": ["manage-account"]}},
            "iss": "https://keycloak.example/realms/herald",
            "aud": ["herald-api", "account"],
            "azp": "herald-dashboard",
            "typ": "Bearer",
        },
    ),
    "space-separated-roles": (
        {"jwt_tenant_claim": "org", "jwt_roles_claim": "herald_roles", "jwt_audience": "herald-api"},
        {
            "sub": "u-1",
            "org": "acme",
            "herald_roles": "viewer marketer",
            "iss": "https://id.example/",
            "aud": "herald-api",
        },
    ),
}


@asynccontextmanager
async def _nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


def _app(settings: HeraldSettings) -> FastAPI:
    app = create_service_app(title="t", description="t", settings=settings, lifespan=_nothing)

    @app.get("/me")
    async def me(principal: Viewer) -> dict[str, Any]:
        return {"tenant": principal.tenant_id, "subject": principal.subject, "roles": sorted(principal.roles)}

    return app


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with JwksServer([KEY]) as server:
        yield server


def _settings(jwks: JwksServer, issuer: str, **mapping: str) -> HeraldSettings:
    return HeraldSettings(jwks_url=jwks.url, jwt_issuer=issuer, **mapping)  # type: ignore[arg-type]


async def _me(settings: HeraldSettings, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(settings)), base_url="http://t") as client:
        return await client.get("/me", headers={"Authorization": f"Bearer {token}"})


def _issued(claims: dict[str, Any]) -> dict[str, Any]:
    return {"iat": _now(), "exp": _now() + 300} | claims


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_providers_token_is_admitted_under_its_claim_mapping(jwks: JwksServer, provider: str) -> None:
    mapping, claims = PROVIDERS[provider]
    response = await _me(_settings(jwks, claims["iss"], **mapping), KEY.sign(_issued(claims)))
    assert response.status_code == 200, response.text
    assert response.json() == {"tenant": "acme", "subject": claims["sub"], "roles": ["marketer"]} | (
        {"roles": ["marketer", "viewer"]} if provider == "space-separated-roles" else {}
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_providers_token_is_refused_under_the_default_claim_names(jwks: JwksServer, provider: str) -> None:
    # Without the mapping the tenant (or the roles) are not where Herald looks: no silent fallback to other claims.
    mapping, claims = PROVIDERS[provider]
    if mapping["jwt_tenant_claim"] == "tenant_id" and mapping["jwt_roles_claim"] == "roles":
        pytest.skip("this shape already uses the default names")
    settings = _settings(jwks, claims["iss"], jwt_audience=mapping["jwt_audience"])
    response = await _me(settings, KEY.sign(_issued(claims)))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(cognito_id_token(aud="another-app-client"), id="id-token-of-another-client"),
        pytest.param(cognito_access_token(client_id="another-app-client"), id="access-token-of-another-client"),
        pytest.param(cognito_access_token(client_id=None), id="access-token-without-client-id"),
        pytest.param(cognito_id_token(aud=["another-app-client"], client_id=None), id="aud-list-without-ours"),
        pytest.param(cognito_id_token(**{"custom:tenant_id": None}), id="no-tenant-claim"),
        pytest.param(cognito_id_token(**{"custom:tenant_id": None}, tenant_id="acme"), id="tenant-only-default-name"),
        pytest.param(cognito_id_token(**{"custom:tenant_id": "acme/../globex"}), id="tenant-not-an-id"),
        pytest.param(cognito_id_token(**{"cognito:groups": None}), id="no-roles-claim"),
        pytest.param(cognito_id_token(**{"cognito:groups": 7}), id="roles-neither-list-nor-string"),
        pytest.param(cognito_id_token(iss="https://cognito-idp.eu-west-1.amazonaws.com/other"), id="another-pool"),
    ],
)
async def test_cognito_tokens_not_for_this_client_or_without_a_tenant_are_refused(
    jwks: JwksServer, claims: dict[str, Any]
) -> None:
    settings = _settings(jwks, COGNITO_ISSUER, **COGNITO, jwt_audience=COGNITO_CLIENT)
    response = await _me(settings, KEY.sign(claims))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_a_cognito_token_signed_by_another_key_is_refused(jwks: JwksServer) -> None:
    settings = _settings(jwks, COGNITO_ISSUER, **COGNITO, jwt_audience=COGNITO_CLIENT)
    assert (await _me(settings, KEY.sign(cognito_id_token()))).status_code == 200
    response = await _me(settings, OTHER_KEY.sign(cognito_id_token()))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


# The four services as processes, configured as a Cognito deployment would configure them.


@pytest.fixture(scope="module")
def cognito_stack(jwks: JwksServer) -> Iterator[DevStack]:
    env = {
        "HERALD_JWKS_URL": jwks.url,
        "HERALD_JWT_ISSUER": COGNITO_ISSUER,
        "HERALD_JWT_AUDIENCE": COGNITO_CLIENT,
        "HERALD_JWT_TENANT_CLAIM": "custom:tenant_id",
        "HERALD_JWT_ROLES_CLAIM": "cognito:groups",
    }
    stack = DevStack(
        prefix="idp" + secrets.token_hex(4),
        ports="free",
        env=env,
        log_dir=tempfile.mkdtemp(prefix="herald-idp-"),
    )
    with stack:
        yield stack


# A viewer route of each service that has bearer routes (the processor has none: it is checked in-process below).
VIEWER_ROUTES = {
    "campaign": "/campaigns",
    "template": "/templates",
    "analytics": "/campaigns/camp_00000000000000000000/stats",
}


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", VIEWER_ROUTES)
def test_every_service_admits_a_cognito_token_and_refuses_the_others(cognito_stack: DevStack, service: str) -> None:
    url = getattr(cognito_stack.urls, service) + VIEWER_ROUTES[service]

    def get(claims: dict[str, Any], key: RsaKey = KEY) -> httpx.Response:
        return httpx.get(url, headers={"Authorization": f"Bearer {key.sign(claims)}"}, timeout=30)

    for admitted in (cognito_id_token(), cognito_access_token()):
        response = get(admitted)
        assert response.status_code in (200, 404), response.text  # 404: the analytics campaign does not exist
        assert response.status_code == (404 if service == "analytics" else 200)
    refused = [
        get(cognito_id_token(), OTHER_KEY),
        get(cognito_id_token(aud="another-app-client")),
        get(cognito_access_token(client_id="another-app-client")),
        get(cognito_id_token(**{"custom:tenant_id": None})),
        httpx.get(
            url, headers={"Authorization": f"Bearer {cognito_stack.token('acme', 'admin')}"}, timeout=30
        ),  # the dev HS256 secret is no key of the provider's
    ]
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert all(r.json() == UNAUTHORIZED for r in refused)


async def test_the_processor_authenticates_with_the_same_mapping(
    jwks: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The processor serves no bearer route, but its app builds its authenticator from the same settings.
    for name, value in {
        "HERALD_JWKS_URL": jwks.url,
        "HERALD_JWT_ISSUER": COGNITO_ISSUER,
        "HERALD_JWT_AUDIENCE": COGNITO_CLIENT,
        "HERALD_JWT_TENANT_CLAIM": "custom:tenant_id",
        "HERALD_JWT_ROLES_CLAIM": "cognito:groups",
    }.items():
        monkeypatch.setenv(name, value)
    authenticator = processor_app().state.authenticator
    principal = await authenticator.authenticate_token(KEY.sign(cognito_access_token()))
    assert (principal.tenant_id, sorted(principal.roles)) == ("acme", ["marketer"])
    with pytest.raises(Unauthorized):
        await authenticator.authenticate_token(KEY.sign(cognito_access_token(client_id="another-app-client")))
    with pytest.raises(Unauthorized):
        await authenticator.authenticate_token(OTHER_KEY.sign(cognito_access_token()))


async def test_dev_tokens_beside_the_provider_only_when_enabled(jwks: JwksServer) -> None:
    # `herald dev` runs the services against its local provider and still admits `herald token`'s HS256 tokens.
    provider = {"jwt_issuer": "http://127.0.0.1:9010", "jwt_audience": "herald-api"}
    script_token = mint_token(HeraldSettings(), tenant_id="acme", roles=["marketer"])
    provider_token = KEY.sign(
        _issued(
            {"sub": "u", "tenant_id": "acme", "roles": ["viewer"]}
            | {"iss": provider["jwt_issuer"], "aud": "herald-api"}
        )
    )
    enabled = HeraldSettings(jwks_url=jwks.url, jwt_dev_tokens=True, **provider)  # type: ignore[arg-type]
    assert (await _me(enabled, script_token)).json()["roles"] == ["marketer"]
    assert (await _me(enabled, provider_token)).json()["roles"] == ["viewer"]
    other_secret = jwt.encode(jwt.decode(script_token, options={"verify_signature": False}), "x" * 40, "HS256")
    assert (await _me(enabled, other_secret)).status_code == 401
    disabled = HeraldSettings(jwks_url=jwks.url, **provider)  # type: ignore[arg-type]
    assert (await _me(disabled, script_token)).status_code == 401
    with pytest.raises(ConfigurationError, match="HERALD_JWT_DEV_TOKENS"):
        HeraldSettings(env="prod", jwks_url="https://id.example/jwks", jwt_dev_tokens=True, unsubscribe_secret="u" * 40)  # type: ignore[arg-type]
