"""The settings base every service extends: one pydantic-settings class, read once per process."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from herald_common.resources import ResourceNames

# Clearly marked development defaults. `prod` refuses to start with any of them.
DEV_JWT_SECRET = "herald-dev-jwt-secret-not-for-production"
DEV_UNSUBSCRIBE_SECRET = "herald-dev-unsubscribe-secret-not-for-production"
DEV_TOKEN_ISSUER = "herald"  # the `iss` of `herald token`'s tokens (and the default issuer without an IdP)
DEV_AWS_KEY = "testing"  # the emulator accepts any credentials
MIN_SECRET_LENGTH = 32  # bytes of an HS256 secret in prod (RFC 7518 §3.2: at least the hash size)


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class ConfigurationError(RuntimeError):
    """A setting makes it unsafe to start (for example a dev secret in prod)."""


class HeraldSettings(BaseSettings):
    """Settings shared by every Herald process. `HERALD_*` variables plus the standard AWS ones."""

    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore", frozen=True, populate_by_name=True)

    env: Environment = Environment.DEV
    resource_prefix: str = Field(default="herald", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    log_level: str = "INFO"
    log_json: bool | None = None  # default: JSON in prod, console in dev

    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = DEV_TOKEN_ISSUER
    jwt_audience: str = "herald-api"  # a token carries it in `aud` or, as Cognito access tokens do, in `client_id`
    # Where the tenant and the roles are in a token (README "Identity"): a claim name such as Cognito's
    # `custom:tenant_id` and `cognito:groups`, or a dotted path into a nested claim such as Keycloak's
    # `realm_access.roles`. Roles may be a JSON list or a space-separated string.
    jwt_tenant_claim: str = Field(default="tenant_id", min_length=1)
    jwt_roles_claim: str = Field(default="roles", min_length=1)
    # Development only (`herald dev`): beside the provider's RS256 tokens, also admit the HS256 tokens that
    # `herald token` signs with HERALD_JWT_SECRET and the issuer `herald`, so scripts keep working while people sign
    # in through the local OIDC provider. Prod refuses to start with it.
    jwt_dev_tokens: bool = False
    jwks_url: str | None = None
    jwks_cache_seconds: float = Field(default=300.0, gt=0)  # how long fetched signing keys are trusted
    jwks_refresh_min_seconds: float = Field(default=30.0, ge=0)  # at most one unknown-`kid` refresh per this

    template_url: str = "http://127.0.0.1:8002"
    public_url: str = "http://127.0.0.1:8001"
    unsubscribe_secret: str = DEV_UNSUBSCRIBE_SECRET

    ses_api_version: Literal["v1", "v2"] = "v2"

    # Abuse limits (README "Abuse limits"): per-tenant API requests per second and burst, per replica (0: off), and
    # the request body bound (413 beyond; a service may raise it, and a streaming route has its own).
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    # Audit records waiting for DynamoDB (per process) and how often they are retried (README "Audit log").
    audit_spool_size: int = Field(default=1000, ge=1)
    audit_flush_seconds: float = Field(default=5.0, gt=0)

    # Standard AWS variables, honoured as boto honours them.
    aws_endpoint_url: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL"))
    aws_region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> HeraldSettings:
        if self.env is Environment.PROD:
            if self.jwks_url is None and (
                self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < MIN_SECRET_LENGTH
            ):
                raise ConfigurationError(
                    f"HERALD_JWT_SECRET is missing, the dev default or under {MIN_SECRET_LENGTH} chars; prod refuses it"
                )
            if self.jwt_dev_tokens:
                raise ConfigurationError("HERALD_JWT_DEV_TOKENS admits dev-secret tokens; prod refuses it")
            if self.jwks_url is not None and not self.jwks_url.startswith("https://"):
                raise ConfigurationError("HERALD_JWKS_URL must be an https:// URL in prod")
            if self.unsubscribe_secret in ("", DEV_UNSUBSCRIBE_SECRET):
                raise ConfigurationError("HERALD_UNSUBSCRIBE_SECRET is missing or the dev default; prod refuses it")
        return self

    @cached_property
    def resources(self) -> ResourceNames:
        return ResourceNames(self.resource_prefix)

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env is Environment.PROD
