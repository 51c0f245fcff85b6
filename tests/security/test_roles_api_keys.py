"""Render API keys: which tenant a presented key (and `X-Herald-Tenant`) may act for, and how they are configured."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from herald_common.api_keys import ApiKeyRegistry, ApiKeySpec, KeyHolder, key_digest
from herald_template.config import Settings as TemplateSettings

TEAM = "team-key-" + "a" * 40
MULTI = "multi-key-" + "b" * 40
SERVICE = "service-key-" + "c" * 40
REGISTRY = ApiKeyRegistry(
    [
        ApiKeySpec(name="growth", sha256=key_digest(TEAM), tenants=["acme"]),
        ApiKeySpec(name="agency", sha256=key_digest(MULTI), tenants=["acme", "globex"]),
    ],
    service_key=SERVICE,
)


@pytest.mark.parametrize(
    ("key", "tenant", "expected"),
    [
        (TEAM, None, KeyHolder("growth", "acme")),
        (TEAM, "acme", KeyHolder("growth", "acme")),
        (TEAM, "globex", None),
        (MULTI, "globex", KeyHolder("agency", "globex")),
        (MULTI, None, None),  # several tenants: it must name one
        (MULTI, "initech", None),
        (SERVICE, "initech", KeyHolder("herald-service", "initech")),
        (SERVICE, None, None),
        (SERVICE, "acme/other", None),  # not a tenant id: it would reach under another key prefix
        (TEAM[:-1], None, None),
        ("", "acme", None),
    ],
    ids=[
        "team-own",
        "team-named-own",
        "team-other-tenant",
        "multi-named",
        "multi-unnamed",
        "multi-outside",
        "service-any",
        "service-unnamed",
        "service-bad-tenant",
        "wrong-key",
        "empty-key",
    ],
)
def test_a_key_acts_only_for_its_tenants(key: str, tenant: str | None, expected: KeyHolder | None) -> None:
    assert REGISTRY.resolve(key, tenant) == expected


def test_keys_are_configured_as_digests_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HERALD_TEMPLATE_API_KEYS", json.dumps([{"name": "growth", "sha256": key_digest(TEAM), "tenants": ["acme"]}])
    )
    settings = TemplateSettings()
    assert settings.template_api_keys == [ApiKeySpec(name="growth", sha256=key_digest(TEAM), tenants=["acme"])]
    assert TEAM not in settings.model_dump_json()


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x", "sha256": "not-hex", "tenants": ["acme"]},
        {"name": "x", "sha256": TEAM, "tenants": ["acme"]},  # the key itself instead of its digest
        {"name": "x", "sha256": key_digest(TEAM), "tenants": []},
        {"name": "x", "sha256": key_digest(TEAM), "tenants": ["acme/x"]},
    ],
    ids=["bad-digest", "raw-key", "no-tenant", "bad-tenant"],
)
def test_a_malformed_key_entry_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ApiKeySpec.model_validate(entry)
