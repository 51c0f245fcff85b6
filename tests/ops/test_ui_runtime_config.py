"""The dashboard image writes /config.json from its environment at start (ui/docker/40-herald-config.sh), so one build
serves any deployment; token paste is offered only outside prod."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "ui" / "docker" / "40-herald-config.sh"


def _written(tmp_path: Path, **env: str) -> dict[str, Any]:
    out = tmp_path / "config.json"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    subprocess.run(["sh", str(SCRIPT)], env=clean | env | {"HERALD_UI_CONFIG_PATH": str(out)}, check=True, timeout=30)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_a_cognito_deployment(tmp_path: Path) -> None:
    config = _written(
        tmp_path,
        HERALD_UI_OIDC_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
        HERALD_UI_OIDC_CLIENT_ID="abc123",
        HERALD_UI_OIDC_SCOPE="openid email profile",
        HERALD_UI_API_TOKEN="id_token",
        HERALD_UI_TENANT_CLAIM="custom:tenant_id",
        HERALD_UI_ROLES_CLAIM="cognito:groups",
        HERALD_UI_SIGN_OUT_URL="https://h.auth.eu-west-1.amazoncognito.com/logout?client_id=abc123&logout_uri=https://d/",
        HERALD_ENV="prod",
        HERALD_UI_TOKEN_SIGN_IN="true",  # refused in prod
    )
    assert config == {
        "oidc": {
            "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
            "clientId": "abc123",
            "scope": "openid email profile",
            "displayName": "your identity provider",
            "apiToken": "id_token",
            "claims": {"tenant": "custom:tenant_id", "roles": "cognito:groups"},
            "signOutUrl": "https://h.auth.eu-west-1.amazoncognito.com/logout?client_id=abc123&logout_uri=https://d/",
        },
        "tokenSignIn": False,
    }


def test_values_are_json_escaped(tmp_path: Path) -> None:
    config = _written(tmp_path, HERALD_UI_OIDC_ISSUER='https://id.example/"x\\y', HERALD_UI_OIDC_CLIENT_ID="c")
    assert config["oidc"]["issuer"] == 'https://id.example/"x\\y'


def test_without_a_provider_the_development_config_is_replaced(tmp_path: Path) -> None:
    assert _written(tmp_path) == {"oidc": None, "tokenSignIn": False}
    assert _written(tmp_path, HERALD_UI_TOKEN_SIGN_IN="true") == {"oidc": None, "tokenSignIn": True}
