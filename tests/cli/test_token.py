"""`herald token` prints a JWT the services' Authenticator accepts, with the asked tenant, roles and lifetime."""

import jwt
import pytest
from typer.testing import CliRunner

from herald_cli.main import app
from herald_common.auth import Authenticator, Role
from herald_common.errors import Unauthorized
from herald_common.settings import HeraldSettings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _dev_environment(monkeypatch):
    for name in ("HERALD_JWT_SECRET", "HERALD_JWT_ISSUER", "HERALD_JWT_AUDIENCE", "HERALD_JWKS_URL", "HERALD_ENV"):
        monkeypatch.delenv(name, raising=False)


def _token(*args: str) -> str:
    result = runner.invoke(app, ["token", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


async def test_token_is_accepted_with_tenant_and_role():
    principal = await Authenticator(HeraldSettings()).authenticate(
        f"Bearer {_token('--tenant', 'acme', '--role', 'marketer')}"
    )
    assert principal.tenant_id == "acme"
    assert principal.roles == {Role.MARKETER}
    assert principal.has(Role.VIEWER)
    assert not principal.has(Role.ADMIN)


async def test_several_roles_and_ttl():
    token = _token("--tenant", "globex", "--role", "admin", "--role", "viewer", "--ttl", "120")
    principal = await Authenticator(HeraldSettings()).authenticate(f"Bearer {token}")
    assert principal.tenant_id == "globex"
    assert principal.roles == {Role.ADMIN, Role.VIEWER}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


def test_unknown_role_is_refused():
    result = runner.invoke(app, ["token", "--tenant", "acme", "--role", "owner"])
    assert result.exit_code != 0


async def test_token_is_signed_with_the_configured_secret(monkeypatch):
    monkeypatch.setenv("HERALD_JWT_SECRET", "another-secret-of-enough-length-for-hs256")
    token = _token("--tenant", "acme")
    assert (await Authenticator(HeraldSettings()).authenticate(f"Bearer {token}")).tenant_id == "acme"
    monkeypatch.delenv("HERALD_JWT_SECRET")
    with pytest.raises(Unauthorized):
        await Authenticator(HeraldSettings()).authenticate(f"Bearer {token}")
