"""The development OIDC provider (`ui/dev-oidc`, run by `herald dev`): a person signs in with a seeded password through
the authorization code flow with PKCE, as the dashboard does, and the access token it gets is admitted by the services
(configured with `DevIdentityProvider.service_env()`), beside `herald token`'s dev tokens."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from herald_cli.dev_oidc import SCRIPT, DevIdentityProvider
from herald_cli.stack import DevStack, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DASHBOARD = "http://127.0.0.1:4999"
REDIRECT = f"{DASHBOARD}/sign-in/callback"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdentityProvider]:
    with DevIdentityProvider(port=free_port(), dashboards=[DASHBOARD]) as provider:
        yield provider


@pytest.fixture(scope="module")
def stack(idp: DevIdentityProvider) -> Iterator[DevStack]:
    log_dir = tempfile.mkdtemp(prefix="herald-devoidc-")
    with DevStack(prefix="oidc" + secrets.token_hex(4), ports="free", env=idp.service_env(), log_dir=log_dir) as s:
        yield s


def _user(idp: DevIdentityProvider, role: str, tenant: str = "acme") -> tuple[str, str]:
    user = next(u for u in idp.users if u.role == role and u.tenant == tenant)
    return user.email, user.password


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _login_form_action(page: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def sign_in(idp: DevIdentityProvider, email: str, password: str) -> httpx.Response | dict[str, Any]:
    """The browser's part of the code flow: the token response, or the provider's answer to a refused login."""
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    with httpx.Client(base_url=idp.issuer, follow_redirects=False, timeout=30) as browser:
        params = {
            "client_id": "herald-dashboard",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": idp.report["scope"],
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = browser.get("/auth", params=params)
        while response.is_redirect and not response.headers["location"].startswith(DASHBOARD):
            if "/interaction/" in response.headers["location"] and response.request.method == "GET":
                page = browser.get(response.headers["location"])
                if page.status_code == 200 and "<form" in page.text:
                    response = browser.post(_login_form_action(page.text), data={"email": email, "password": password})
                    if not response.is_redirect:
                        return response
                    continue
                response = page
                continue
            response = browser.get(response.headers["location"])
        assert response.is_redirect, response.text[:500]
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == [state]
        tokens = browser.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT,
                "client_id": "herald-dashboard",
                "code_verifier": verifier,
            },
        )
        assert tokens.status_code == 200, tokens.text
        body: dict[str, Any] = tokens.json()
        return body


def test_a_seeded_marketer_signs_in_and_the_services_admit_the_access_token(
    idp: DevIdentityProvider, stack: DevStack
) -> None:
    tokens = sign_in(idp, *_user(idp, "marketer"))
    assert isinstance(tokens, dict)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["tenant_id"], claims["roles"]) == (
        idp.issuer,
        "herald-api",
        "acme",
        ["marketer"],
    )
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    created = httpx.post(
        f"{stack.urls.campaign}/campaigns",
        headers=headers,
        json={"name": "signed in", "templateId": "welcome", "fromAddress": "news@acme.example", "recipients": []},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{stack.urls.campaign}/campaigns", headers=headers, timeout=30)
    assert created.json()["campaignId"] in [c["campaignId"] for c in listed.json()["campaigns"]]
    # `herald token` keeps working for scripts beside the provider.
    dev = {"Authorization": f"Bearer {stack.token('acme', 'viewer')}"}
    assert httpx.get(f"{stack.urls.campaign}/campaigns", headers=dev, timeout=30).status_code == 200


def test_a_viewer_is_admitted_to_read_and_refused_to_write(idp: DevIdentityProvider, stack: DevStack) -> None:
    tokens = sign_in(idp, *_user(idp, "viewer"))
    assert isinstance(tokens, dict)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{stack.urls.campaign}/campaigns", headers=headers, timeout=30).status_code == 200
    refused = httpx.post(f"{stack.urls.campaign}/campaigns", headers=headers, json={}, timeout=30)
    assert refused.status_code == 403


def test_a_wrong_password_is_refused_on_the_providers_page(idp: DevIdentityProvider) -> None:
    email, password = _user(idp, "marketer")
    refused = sign_in(idp, email, password + "x")
    assert isinstance(refused, httpx.Response)
    assert refused.status_code == 401
    assert "Wrong email or password." in refused.text
    unknown = sign_in(idp, "nobody@acme.example", password)
    assert isinstance(unknown, httpx.Response)
    assert unknown.status_code == 401


def test_the_refresh_token_gives_a_new_access_token_for_the_same_person(idp: DevIdentityProvider) -> None:
    tokens = sign_in(idp, *_user(idp, "marketer", "globex"))
    assert isinstance(tokens, dict)
    refreshed = httpx.post(
        f"{idp.issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "herald-dashboard"},
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert (claims["aud"], claims["tenant_id"], claims["roles"]) == ("herald-api", "globex", ["marketer"])


def test_a_token_from_the_dev_provider_is_refused_by_services_not_configured_for_it(idp: DevIdentityProvider) -> None:
    # The default dev stack (HS256 only) must not take it: the provider's key is what makes it valid.
    tokens = sign_in(idp, *_user(idp, "admin"))
    assert isinstance(tokens, dict)
    with DevStack(prefix="plain" + secrets.token_hex(4), ports="free", log_dir=tempfile.mkdtemp()) as plain:
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{plain.urls.campaign}/campaigns", headers=headers, timeout=30).status_code == 401


@pytest.mark.parametrize(
    ("args", "env"),
    [([], {"HERALD_ENV": "prod"}), (["--host", "0.0.0.0"], {})],
    ids=["prod", "not-loopback"],
)
def test_the_dev_provider_refuses_prod_and_non_loopback_addresses(args: list[str], env: dict[str, str]) -> None:
    # Its passwords are public: it must never serve outside development or beyond this machine.
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, str(SCRIPT), "--port", str(free_port()), *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # never reported itself up
