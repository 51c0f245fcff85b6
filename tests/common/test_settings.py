"""Settings: prod refuses dev secrets; resource names all carry the prefix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from herald_common.settings import DEV_JWT_SECRET, ConfigurationError, HeraldSettings


def test_prod_refuses_default_jwt_secret() -> None:
    with pytest.raises(ConfigurationError, match="HERALD_JWT_SECRET"):
        HeraldSettings(env="prod", jwt_secret=DEV_JWT_SECRET, unsubscribe_secret="s" * 32)


def test_prod_refuses_default_unsubscribe_secret() -> None:
    with pytest.raises(ConfigurationError, match="HERALD_UNSUBSCRIBE_SECRET"):
        HeraldSettings(env="prod", jwt_secret="s" * 32)


def test_prod_accepts_real_secrets_and_logs_json() -> None:
    settings = HeraldSettings(env="prod", jwt_secret="a" * 32, unsubscribe_secret="b" * 32)
    assert settings.json_logs is True


def test_prod_with_jwks_needs_no_shared_secret() -> None:
    settings = HeraldSettings(env="prod", jwks_url="https://id.example.com/jwks.json", unsubscribe_secret="b" * 32)
    assert settings.jwks_url is not None


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_RESOURCE_PREFIX", "run42")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = HeraldSettings()
    assert settings.resource_prefix == "run42"
    assert settings.aws_endpoint_url == "http://127.0.0.1:9999"
    assert settings.aws_region == "eu-west-1"


def test_every_resource_name_carries_the_prefix() -> None:
    names = HeraldSettings(resource_prefix="zz9").resources
    every = [
        *names.tables,
        names.bucket,
        *names.queues,
        names.ses_events_topic,
        names.campaign_updates_topic,
        names.configuration_set,
        names.dead_letter_queue(names.email_jobs_queue),
    ]
    assert all(name.startswith("zz9-") for name in every)
    assert len(set(names.tables)) == len(names.tables)
    assert len(set(names.queues)) == len(names.queues)


def test_bad_prefix_is_rejected() -> None:
    with pytest.raises(ValidationError):
        HeraldSettings(resource_prefix="Has Spaces")
