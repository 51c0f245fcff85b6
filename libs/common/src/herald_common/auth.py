"""JWT authentication and role checks, shared by every service.

HS256 with `HERALD_JWT_SECRET` in dev; RS256 against `HERALD_JWKS_URL` when it is set (prod). The algorithm list is
fixed per mode, so a token cannot choose its own (`alg: none`, or HS256 signed with a public key, are refused).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import jwt
from fastapi import Depends, Request

from herald_common.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from herald_common.settings import HeraldSettings


class Role(StrEnum):
    VIEWER = "viewer"
    MARKETER = "marketer"
    ADMIN = "admin"


# Each role includes the ones before it.
_RANK = {Role.VIEWER: 0, Role.MARKETER: 1, Role.ADMIN: 2}
REQUIRED_CLAIMS = ("exp", "sub", "tenant_id", "roles", "iss", "aud")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, tenant and roles."""

    subject: str
    tenant_id: str
    roles: frozenset[Role]

    def has(self, role: Role) -> bool:
        return any(_RANK[r] >= _RANK[role] for r in self.roles)


class Authenticator:
    """Validates bearer tokens. One per process, kept on `app.state.authenticator`."""

    def __init__(self, settings: HeraldSettings) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks: jwt.PyJWKClient | None = None
        self._secret = settings.jwt_secret
        if settings.jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)

    def _decode(self, token: str) -> dict[str, object]:
        options: jwt.types.Options = {"require": list(REQUIRED_CLAIMS)}
        if self._jwks is not None:
            key = self._jwks.get_signing_key_from_jwt(token).key
            return jwt.decode(
                token, key, algorithms=["RS256"], audience=self._audience, issuer=self._issuer, options=options
            )
        return jwt.decode(
            token, self._secret, algorithms=["HS256"], audience=self._audience, issuer=self._issuer, options=options
        )

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = self._decode(authorization[7:].strip())
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized("The token is not valid.", headers={"WWW-Authenticate": "Bearer"}) from exc
        tenant, roles, sub = claims.get("tenant_id"), claims.get("roles"), claims.get("sub")
        if not isinstance(tenant, str) or not tenant or not isinstance(sub, str) or not isinstance(roles, list):
            raise Unauthorized("The token is not valid.", headers={"WWW-Authenticate": "Bearer"})
        known = frozenset(Role(r) for r in roles if r in Role.__members__.values())
        return Principal(subject=sub, tenant_id=tenant, roles=known)


def mint_token(
    settings: HeraldSettings,
    *,
    tenant_id: str,
    roles: Iterable[str],
    subject: str = "dev-user",
    ttl_seconds: int = 12 * 3600,
) -> str:
    """An HS256 token signed with the configured secret (dev tokens, and service-to-service calls in dev)."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "tenant_id": tenant_id,
        "roles": list(roles),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def current_principal(request: Request) -> Principal:
    """The authenticated caller (401 without a valid token).

    Async on purpose: a plain `def` dependency costs a thread-pool hop per request for a check that takes
    microseconds (the JWKS client's rare key fetch is the one blocking call, and its keys are cached)."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits callers holding `role` (or a higher one), 403 otherwise."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(role):
            raise Forbidden(f"This action needs the '{role.value}' role.")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Marketer = Annotated[Principal, Depends(require_role(Role.MARKETER))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
