"""Route × role: every route of every service (read from its FastAPI app) refuses a missing token and enforces the
role in `ROLE_MATRIX`, checked over real HTTP against the four services running as processes on the emulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from herald_common.auth import INVALID_CREDENTIALS
from tests.security.live_stack import ACME_TEAM_KEY, bearer, live_stack
from tests.security.routes import (
    API_KEY_ROUTES,
    APPS,
    PUBLIC,
    PUBLIC_BY_SERVICE,
    QUERY_TOKEN_ROUTES,
    ROLE_MATRIX,
    api_routes,
    required_role,
)

if TYPE_CHECKING:
    from herald_cli.stack import DevStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.xdist_group("security-live-stack")]

ROLES = ("viewer", "marketer", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
PATH_VALUES = {
    "campaign_id": "camp_00000000000000000000",
    "templateId": "no-such-template",
    "email": "nobody@example.com",
    "token": "not-a-token",
    "webhook_id": "wh_00000000000000000000",
}
UNAUTHORIZED = {"error": "Unauthorized", "detail": INVALID_CREDENTIALS}
CASES = [
    (service, method, path, role) for service, routes in ROLE_MATRIX.items() for (method, path), role in routes.items()
]
README = Path(__file__).resolve().parents[2] / "README.md"


def _url(stack: DevStack, service: str, path: str) -> str:
    return getattr(stack.urls, service) + re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _call(stack: DevStack, service: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return httpx.request(method, _url(stack, service, path), headers=headers, json=body, timeout=30)


@pytest.fixture(scope="module")
def stack() -> DevStack:
    return live_stack()


@pytest.mark.parametrize("service", APPS)
def test_every_route_is_public_or_has_a_role_in_the_matrix(service: str) -> None:
    served = {(method, path) for method, path, _ in api_routes(APPS[service]())}
    public = PUBLIC | PUBLIC_BY_SERVICE.get(service, set())
    assert served - public == set(ROLE_MATRIX[service]), "a route without a decided role (add it to ROLE_MATRIX)"


@pytest.mark.parametrize("service", APPS)
def test_each_route_declares_the_role_of_the_matrix(service: str) -> None:
    declared = {(m, p): required_role(r.dependant) for m, p, r in api_routes(APPS[service]())}
    public = PUBLIC | PUBLIC_BY_SERVICE.get(service, set())
    assert {k: v for k, v in declared.items() if k not in public} == ROLE_MATRIX[service]
    assert all(declared[k] is None for k in public if k in declared)


@pytest.mark.parametrize(("service", "method", "path", "role"), CASES, ids=[f"{s}:{m} {p}" for s, m, p, _ in CASES])
def test_route_refuses_no_token_and_lower_roles_and_admits_its_role(
    stack: DevStack, service: str, method: str, path: str, role: str
) -> None:
    missing = _call(stack, service, method, path, {})
    assert missing.status_code == 401
    assert missing.json() == UNAUTHORIZED
    foreign = _call(stack, service, method, path, {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    assert foreign.status_code == 401
    unknown_role = _call(stack, service, method, path, bearer(stack, "acme", "superuser"))
    assert unknown_role.status_code == 403
    for caller in ROLES:
        response = _call(stack, service, method, path, bearer(stack, "acme", caller))
        assert response.status_code < 500, response.text
        if RANK[caller] < RANK[role]:
            assert response.status_code == 403, f"{caller} reached {method} {path}"
            assert response.json()["error"] == "Forbidden"
        else:
            assert response.status_code not in (401, 403), f"{caller} refused at {method} {path}: {response.text}"


@pytest.mark.parametrize("service", ["campaign", "template", "analytics", "processor"])
def test_public_routes_answer_without_a_token(stack: DevStack, service: str) -> None:
    for method, path in PUBLIC:
        assert httpx.request(method, _url(stack, service, path), timeout=30).status_code == 200


def test_a_render_api_key_opens_the_render_routes_only(stack: DevStack) -> None:
    key = {"X-API-Key": ACME_TEAM_KEY}
    for service, routes in ROLE_MATRIX.items():
        for method, path in routes:
            response = _call(stack, service, method, path, key)
            if (service, method, path) in API_KEY_ROUTES:
                assert response.status_code not in (401, 403), response.text
            else:
                assert response.status_code == 401, f"an API key opened {method} {path}"
    wrong = _call(stack, "template", "POST", "/render", {"X-API-Key": ACME_TEAM_KEY + "x"})
    assert wrong.status_code == 401
    assert wrong.json() == UNAUTHORIZED


def test_only_the_stream_takes_the_token_from_the_query_string(stack: DevStack) -> None:
    token = stack.token("acme", "admin")
    for service, routes in ROLE_MATRIX.items():
        for method, path in routes:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            url = _url(stack, service, path)
            response = httpx.request(method, url, params={"access_token": token}, json=body, timeout=30)
            if (service, method, path) in QUERY_TOKEN_ROUTES:
                assert response.status_code == 404  # authenticated; the campaign does not exist
            else:
                assert response.status_code == 401, f"{method} {path} took a token from the URL"


def test_the_readme_roles_table_is_the_matrix() -> None:
    text = README.read_text()
    section = text.split("### Roles", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| `(\w+) ([^`]+)` \| (\w+) \|", section, flags=re.MULTILINE)
    documented = {(service, method, path): role for service, method, path, role in rows}
    expected = {(s, m, p): r for s, routes in ROLE_MATRIX.items() for (m, p), r in routes.items()}
    assert documented == expected
