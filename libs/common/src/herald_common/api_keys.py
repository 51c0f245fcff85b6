"""API keys for the render API: other teams' keys (hashed, scoped to tenants) and Herald's own service key.

A caller sends `X-API-Key: <key>` and, when its key may act for more than one tenant, `X-Herald-Tenant: <tenant>`.
The service stores only SHA-256 digests of team keys (keys are long random strings, so a fast hash is enough) and
compares them in constant time. The service key (`HERALD_SERVICE_KEY`) is shared by Herald's processor and the
template service, like the JWT secret is shared by the APIs; it may act for any tenant. A key grants rendering only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from pydantic import BaseModel, Field, SecretStr, model_validator

from herald_common.settings import ConfigurationError, Environment, HeraldSettings

# Clearly marked development default; `prod` refuses it (and any key shorter than MIN_KEY_LENGTH).
DEV_SERVICE_KEY = "herald-dev-service-key-not-for-production"
MIN_KEY_LENGTH = 32
ANY_TENANT = "*"
TENANT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # docs/architecture.md: it travels as an SES tag value
_TENANT_RE = re.compile(TENANT_ID_PATTERN)


def key_digest(key: str) -> str:
    """The SHA-256 hex digest stored in `HERALD_TEMPLATE_API_KEYS` for a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def valid_tenant_id(tenant_id: object) -> bool:
    return isinstance(tenant_id, str) and _TENANT_RE.fullmatch(tenant_id) is not None


class ApiKeySpec(BaseModel):
    """One team's key, as configured: `{"name": "growth", "sha256": "<hex digest>", "tenants": ["acme"]}`."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 digest of the key (never the key)")
    tenants: list[str] = Field(min_length=1, description="tenant ids this key may render for; '*' for any")

    @model_validator(mode="after")
    def _tenants_are_ids(self) -> ApiKeySpec:
        bad = [t for t in self.tenants if t != ANY_TENANT and not valid_tenant_id(t)]
        if bad:
            raise ValueError(f"not tenant ids: {bad}")
        return self


@dataclass(frozen=True)
class KeyHolder:
    """Who presented a key: its configured name and the tenant it acts for."""

    name: str
    tenant_id: str


class ApiKeyRegistry:
    """Resolves a presented key (and optional tenant header) to a `KeyHolder`, or None."""

    def __init__(self, specs: list[ApiKeySpec], *, service_key: str | None = None) -> None:
        entries = [(bytes.fromhex(s.sha256), s.name, frozenset(s.tenants)) for s in specs]
        if service_key:
            entries.append((hashlib.sha256(service_key.encode()).digest(), "herald-service", frozenset({ANY_TENANT})))
        self._entries = entries

    def resolve(self, key: str, tenant_header: str | None) -> KeyHolder | None:
        digest = hashlib.sha256(key.encode()).digest()
        match = None
        for stored, name, tenants in self._entries:  # every entry is compared: no early exit to time
            if hmac.compare_digest(stored, digest):
                match = (name, tenants)
        if match is None:
            return None
        name, tenants = match
        if tenant_header is None:
            concrete = [t for t in tenants if t != ANY_TENANT]
            if ANY_TENANT in tenants or len(concrete) != 1:
                return None  # the key must say which tenant it acts for
            return KeyHolder(name, concrete[0])
        if not valid_tenant_id(tenant_header):
            return None
        if ANY_TENANT in tenants or tenant_header in tenants:
            return KeyHolder(name, tenant_header)
        return None


class ServiceKeySettings(HeraldSettings):
    """Settings of a service that holds Herald's service key (the processor sends it, the template service checks
    it). `prod` refuses the dev default and short keys."""

    service_key: SecretStr = SecretStr(DEV_SERVICE_KEY)

    @model_validator(mode="after")
    def _refuse_dev_service_key_in_prod(self) -> ServiceKeySettings:
        key = self.service_key.get_secret_value()
        if self.env is Environment.PROD and (key == DEV_SERVICE_KEY or len(key) < MIN_KEY_LENGTH):
            raise ConfigurationError(
                f"HERALD_SERVICE_KEY is missing, the dev default or shorter than {MIN_KEY_LENGTH}; prod refuses it"
            )
        return self
