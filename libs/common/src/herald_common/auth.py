"""Authentication and role checks, shared by every service.

Bearer JWTs: HS256 with `HERALD_JWT_SECRET` in dev; RS256 against `HERALD_JWKS_URL` when it is set (prod). The
algorithm list is fixed per mode, so a token cannot choose its own (`alg: none`, or HS256 signed with the RSA public
key, are refused). `exp`, `iss`, `sub`, the audience, the tenant and the roles are required. Every refusal is the same
401 with the same sentence: the caller learns nothing about why (the reason is logged).

Identity providers put the tenant and the roles in claims of their own choosing (Cognito: `custom:tenant_id` and
`cognito:groups`; Keycloak: `realm_access.roles`; Auth0: a namespaced URL claim; Okta: `groups`; Entra ID: `roles`):
`HERALD_JWT_TENANT_CLAIM` and `HERALD_JWT_ROLES_CLAIM` name them. The audience may be in `aud` (ID tokens, most access
tokens) or in `client_id` (Cognito access tokens carry no `aud`).

Routes declare the role they need with `Viewer`, `Marketer` or `Admin` (each includes the ones before it).
`StreamViewer` also accepts the token as an `access_token` query parameter (a browser's EventSource cannot send
headers); `RenderCaller` also accepts an API key (`herald_common.api_keys`).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import jwt
import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from herald_common.api_keys import valid_tenant_id
from herald_common.errors import Forbidden, ServiceUnavailable, Unauthorized
from herald_common.jwks import JwksKeySet, JwksUnavailable, UnknownSigningKey
from herald_common.settings import DEV_TOKEN_ISSUER

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from herald_common.api_keys import ApiKeyRegistry
    from herald_common.settings import HeraldSettings

log = structlog.get_logger("herald.auth")


class Role(StrEnum):
    VIEWER = "viewer"
    MARKETER = "marketer"
    ADMIN = "admin"


# Each role includes the ones before it.
_RANK = {Role.VIEWER: 0, Role.MARKETER: 1, Role.ADMIN: 2}
# Checked by PyJWT; the audience, tenant and roles are checked here (their claim names vary by provider).
REQUIRED_CLAIMS = ("exp", "iss", "sub")
HS256_ALGORITHMS = ["HS256"]
RS256_ALGORITHMS = ["RS256"]
CLOCK_SKEW_SECONDS = 5
ACCESS_TOKEN_PARAM = "access_token"
# One sentence for every refused credential: missing, malformed, forged, expired, wrong issuer or audience.
INVALID_CREDENTIALS = "A valid bearer token is required."
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject (or `api-key:<name>`), tenant and roles."""

    subject: str
    tenant_id: str
    roles: frozenset[Role]
    expires_at: float | None = None  # the token's `exp` (seconds since the epoch); None for an API key

    def has(self, role: Role) -> bool:
        return any(_RANK[r] >= _RANK[role] for r in self.roles)


def unauthorized() -> Unauthorized:
    return Unauthorized(INVALID_CREDENTIALS, headers=_CHALLENGE)


class Authenticator:
    """Validates bearer tokens. One per process, kept on `app.state.authenticator`."""

    def __init__(self, settings: HeraldSettings, *, jwks: JwksKeySet | None = None) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._tenant_claim = settings.jwt_tenant_claim
        self._roles_claim = settings.jwt_roles_claim
        self._secret = settings.jwt_secret
        self._dev_tokens = settings.jwt_dev_tokens
        self._jwks = jwks
        if self._jwks is None and settings.jwks_url:
            self._jwks = JwksKeySet(
                settings.jwks_url,
                cache_seconds=settings.jwks_cache_seconds,
                min_refresh_seconds=settings.jwks_refresh_min_seconds,
            )

    @property
    def jwks(self) -> JwksKeySet | None:
        return self._jwks

    def _is_dev_token(self, token: str) -> bool:
        # Only in dev with HERALD_JWT_DEV_TOKENS: the verifier is chosen by the header, but each one has its own fixed
        # algorithm and key, so a token still cannot pick how it is checked (HS256 is checked with the secret only).
        return self._jwks is not None and self._dev_tokens and jwt.get_unverified_header(token).get("alg") == "HS256"

    async def _key(self, token: str) -> str | jwt.PyJWK:
        if self._jwks is None:
            return self._secret
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in RS256_ALGORITHMS:
            raise jwt.InvalidTokenError("an RS256 token with a kid is required")
        try:
            return await self._jwks.key_for(kid)
        except UnknownSigningKey as exc:
            raise jwt.InvalidTokenError(f"unknown kid {kid[:64]!r}") from exc
        except JwksUnavailable as exc:
            log.error("auth.jwks_unavailable")
            raise ServiceUnavailable("Tokens cannot be verified right now; try again.") from exc

    async def authenticate_token(self, token: str) -> Principal:
        """The principal a token stands for; raises the generic 401 for any bad token."""
        try:
            dev_token = self._is_dev_token(token)
            key = self._secret if dev_token else await self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=HS256_ALGORITHMS if self._jwks is None or dev_token else RS256_ALGORITHMS,
                issuer=DEV_TOKEN_ISSUER if dev_token else self._issuer,
                leeway=CLOCK_SKEW_SECONDS,
                # The audience is checked below: PyJWT knows only `aud`, and Cognito access tokens use `client_id`.
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            log.info("auth.token_refused", reason=type(exc).__name__, detail=str(exc)[:200])
            raise unauthorized() from exc
        if not has_audience(claims, self._audience):
            log.info("auth.token_refused", reason="audience")
            raise unauthorized()
        tenant = claim_value(claims, self._tenant_claim)
        roles = role_names(claim_value(claims, self._roles_claim))
        sub = claims.get("sub")
        if not valid_tenant_id(tenant) or not isinstance(sub, str) or not sub or roles is None:
            log.info("auth.token_refused", reason="bad_claims")
            raise unauthorized()
        known = frozenset(Role(r) for r in roles if r in Role.__members__.values())
        assert isinstance(tenant, str)
        return Principal(subject=sub, tenant_id=tenant, roles=known, expires_at=float(claims["exp"]))

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization` header value (`Bearer <token>`)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        return await self.authenticate_token(token.strip())


def has_audience(claims: dict[str, Any], audience: str) -> bool:
    """Whether the token is meant for `audience`: in `aud` (a string or a list), or in `client_id`."""
    aud = claims.get("aud")
    if aud == audience or (isinstance(aud, list) and audience in aud):
        return True
    return claims.get("client_id") == audience


def claim_value(claims: dict[str, Any], name: str) -> object:
    """A claim by its name, else by a dotted path into nested objects (`realm_access.roles`).

    The exact name wins, so names that contain dots (Auth0's `https://herald.example/roles`) or colons (Cognito's
    `custom:tenant_id`) are read as they are.
    """
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def role_names(value: object) -> list[str] | None:
    """Roles as a JSON list of strings or a space-separated string (OAuth's `scope` style); None if neither."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [r for r in value if isinstance(r, str)]
    return None


def mint_token(
    settings: HeraldSettings,
    *,
    tenant_id: str,
    roles: Iterable[str],
    subject: str = "dev-user",
    ttl_seconds: int = 12 * 3600,
) -> str:
    """An HS256 token signed with the configured secret (dev tokens and tests; prod tokens come from the IdP)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        settings.jwt_tenant_claim: tenant_id,
        settings.jwt_roles_claim: list(roles),
        # Beside a provider (HERALD_JWT_DEV_TOKENS) the provider's issuer is configured; dev tokens keep their own.
        "iss": DEV_TOKEN_ISSUER if settings.jwt_dev_tokens else settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


# OpenAPI security schemes (auto_error=False: Herald answers in its own error shape).
_bearer = HTTPBearer(auto_error=False, description="A JWT: `Authorization: Bearer <token>`.")
_query_token = APIKeyQuery(
    name=ACCESS_TOKEN_PARAM, auto_error=False, description="The same JWT as a query parameter (EventSource)."
)
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A render API key; `X-Herald-Tenant` names the tenant."
)

Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _from_bearer(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise unauthorized()
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate_token(credentials.credentials)
    request.state.principal = principal
    return principal


async def current_principal(request: Request, credentials: Bearer) -> Principal:
    """The authenticated caller (401 without a valid bearer token)."""
    return await _from_bearer(request, credentials)


async def stream_principal(
    request: Request, credentials: Bearer, access_token: Annotated[str | None, Depends(_query_token)]
) -> Principal:
    """The caller of a server-sent event stream: a bearer header, else the `access_token` query parameter."""
    if credentials is None and access_token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=access_token)
    return await _from_bearer(request, credentials)


async def render_principal(
    request: Request, credentials: Bearer, api_key: Annotated[str | None, Depends(_api_key)]
) -> Principal:
    """A render caller: a bearer token, or an API key (`X-API-Key`, `X-Herald-Tenant`) the app's registry knows."""
    if credentials is not None or not api_key:
        return await _from_bearer(request, credentials)
    registry: ApiKeyRegistry | None = getattr(request.app.state, "api_keys", None)
    holder = registry.resolve(api_key, request.headers.get("x-herald-tenant")) if registry is not None else None
    if holder is None:
        log.info("auth.api_key_refused")
        raise unauthorized()
    principal = Principal(subject=f"api-key:{holder.name}", tenant_id=holder.tenant_id, roles=frozenset({Role.VIEWER}))
    request.state.principal = principal
    return principal


def require_role(
    role: Role, authenticate: Callable[..., Awaitable[Principal]] = current_principal
) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits callers holding `role` (or a higher one), 403 otherwise."""

    async def check(principal: Principal) -> Principal:
        if not principal.has(role):
            raise Forbidden(f"This action needs the '{role.value}' role.")
        return principal

    # Set explicitly: with postponed annotations FastAPI could not resolve `authenticate` (a closure variable).
    parameter = inspect.Parameter(
        "principal", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[Principal, Depends(authenticate)]
    )
    check.__signature__ = inspect.Signature([parameter], return_annotation=Principal)  # type: ignore[attr-defined]
    check.required_role = role  # type: ignore[attr-defined]  # read by the route × role test and table
    return check


Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Marketer = Annotated[Principal, Depends(require_role(Role.MARKETER))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
StreamViewer = Annotated[Principal, Depends(require_role(Role.VIEWER, stream_principal))]
RenderCaller = Annotated[Principal, Depends(require_role(Role.VIEWER, render_principal))]
