"""Tenant isolation, tested as an attacker would: tenant `globex` holds valid tokens (every role) and render API keys,
and knows tenant `acme`'s ids (campaigns, recipients, templates, suppressed addresses). Every route it tries with
them answers exactly as for an id that does not exist, lists show nothing of acme's, and acme's data is unchanged.
Real service processes over real HTTP on the emulator; acme's campaign is really sent (the processor renders through
the template service with the service key), so its ledger, statistics and stream exist to be attacked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from tests.security.live_stack import ACME_TEAM_KEY, GLOBEX_TEAM_KEY, SERVICE_KEY, bearer, live_stack

if TYPE_CHECKING:
    from herald_cli.stack import DevStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.xdist_group("security-live-stack")]

A, B = "acme", "globex"
SEND_TIMEOUT = 120.0
TEMPLATE = {
    "name": "Welcome",
    "subject": "Hi {{ first_name }}",
    "html": '<p>Hi {{ first_name }}</p><a href="{{ unsubscribe_url }}">u</a>',
}
PRIVATE_EMAIL = "private@acme.example"
MISSING_CAMPAIGN = "camp_00000000000000000000"


@dataclass
class World:
    stack: DevStack
    sent_id: str
    draft_id: str
    template_id: str

    def url(self, service: str, path: str) -> str:
        return getattr(self.stack.urls, service) + path

    def call(self, tenant: str, role: str, method: str, service: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(
            method, self.url(service, path), headers=bearer(self.stack, tenant, role), timeout=30, **kw
        )


def _ok(response: httpx.Response, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or (200,)), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def world() -> World:
    stack = live_stack()
    w = World(stack, "", "", "welcome-iso")
    _ok(w.call(A, "marketer", "PUT", "template", f"/templates/{w.template_id}", json=TEMPLATE), 201)
    recipients = [
        {"email": "ada@example.com", "data": {"first_name": "Ada"}},
        {"email": "bounce@simulator.amazonses.com", "data": {"first_name": "Bo"}},
    ]
    created = {"name": "Acme spring", "templateId": w.template_id, "fromAddress": "news@example.com"}
    w.sent_id = _ok(
        w.call(A, "marketer", "POST", "campaign", "/campaigns", json=created | {"recipients": recipients}), 201
    )["campaignId"]
    bad_row = {"recipients": [{"email": "not-an-address"}]}
    _ok(w.call(A, "marketer", "POST", "campaign", f"/campaigns/{w.sent_id}/recipients", json=bad_row))
    _ok(w.call(A, "marketer", "POST", "campaign", f"/campaigns/{w.sent_id}/send", json={"sendAt": "immediate"}), 202)
    w.draft_id = _ok(w.call(A, "marketer", "POST", "campaign", "/campaigns", json=created), 201)["campaignId"]
    _ok(w.call(A, "admin", "POST", "campaign", "/suppressions", json={"email": PRIVATE_EMAIL}), 201)
    deadline = time.monotonic() + SEND_TIMEOUT
    while time.monotonic() < deadline:
        stats = _ok(w.call(A, "viewer", "GET", "analytics", f"/campaigns/{w.sent_id}/stats"))
        if stats["status"] == "sent" and stats["delivered"] >= 1 and stats["bounced"] >= 1:
            break
        time.sleep(1.0)
    else:
        pytest.fail(f"acme's campaign did not finish sending: {stats}")
    return w


def _same_as_missing(w: World, method: str, service: str, path: str, role: str = "admin", **kw: Any) -> None:
    """globex gets for acme's id exactly what it gets for an id that does not exist: 404, same body."""
    attacked = w.call(B, role, method, service, path, **kw)
    assert attacked.status_code == 404, f"{method} {path}: {attacked.status_code} {attacked.text}"
    for real in (w.sent_id, w.draft_id, w.template_id, PRIVATE_EMAIL):
        if real in path:
            missing = w.call(B, role, method, service, path.replace(real, _missing_like(real)), **kw)
            assert missing.status_code == 404
            assert attacked.json() == _swap(missing.json(), _missing_like(real), real)


def _missing_like(real: str) -> str:
    if real.startswith("camp_"):
        return MISSING_CAMPAIGN
    return "nobody@acme.example" if "@" in real else "no-such-template"


def _swap(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {k: v.replace(old, new) if isinstance(v, str) else v for k, v in body.items()}


def _snapshot(w: World) -> dict[str, Any]:
    return {
        "sent": _ok(w.call(A, "viewer", "GET", "campaign", f"/campaigns/{w.sent_id}")),
        "draft": _ok(w.call(A, "viewer", "GET", "campaign", f"/campaigns/{w.draft_id}")),
        "template": _ok(w.call(A, "viewer", "GET", "template", f"/templates/{w.template_id}")),
        "suppressions": _ok(w.call(A, "admin", "GET", "campaign", "/suppressions")),
        "stats": _ok(w.call(A, "viewer", "GET", "analytics", f"/campaigns/{w.sent_id}/stats")),
    }


def test_campaign_routes_answer_404_for_another_tenants_campaigns(world: World) -> None:
    before = _snapshot(world)
    send = {"sendAt": "immediate"}
    for cid in (world.sent_id, world.draft_id):
        _same_as_missing(world, "GET", "campaign", f"/campaigns/{cid}")
        _same_as_missing(world, "GET", "campaign", f"/campaigns/{cid}/invalid")
        _same_as_missing(world, "PATCH", "campaign", f"/campaigns/{cid}", json={"name": "pwned"})
        _same_as_missing(world, "POST", "campaign", f"/campaigns/{cid}/recipients", json={"recipients": []})
        _same_as_missing(world, "POST", "campaign", f"/campaigns/{cid}/send", json=send)
        for action in ("pause", "resume", "cancel", "retry-failed"):
            _same_as_missing(world, "POST", "campaign", f"/campaigns/{cid}/{action}")
        _same_as_missing(
            world, "POST", "campaign", f"/campaigns/{cid}/test-send", json={"emails": ["me@globex.example"]}
        )
        _same_as_missing(world, "DELETE", "campaign", f"/campaigns/{cid}")
    assert _snapshot(world) == before


def test_lists_show_nothing_of_another_tenant(world: World) -> None:
    for status in (None, "draft", "sent"):
        params = {"status": status} if status else {}
        page = _ok(world.call(B, "admin", "GET", "campaign", "/campaigns", params=params))
        assert {c["campaignId"] for c in page["campaigns"]}.isdisjoint({world.sent_id, world.draft_id})
    own = _ok(world.call(A, "viewer", "GET", "campaign", "/campaigns"))
    assert {world.sent_id, world.draft_id} <= {c["campaignId"] for c in own["campaigns"]}
    templates = _ok(world.call(B, "admin", "GET", "template", "/templates"))
    assert world.template_id not in str(templates)
    suppressions = _ok(world.call(B, "admin", "GET", "campaign", "/suppressions"))
    assert PRIVATE_EMAIL not in str(suppressions)
    assert "bounce@simulator.amazonses.com" not in str(suppressions)  # acme's hard bounce, suppressed for acme only
    acme_suppressed = str(_ok(world.call(A, "admin", "GET", "campaign", "/suppressions")))
    assert PRIVATE_EMAIL in acme_suppressed
    assert "bounce@simulator.amazonses.com" in acme_suppressed


def test_statistics_recipients_and_stream_answer_404_for_another_tenants_campaign(world: World) -> None:
    for path in ("stats", "recipients", "stream"):
        _same_as_missing(world, "GET", "analytics", f"/campaigns/{world.sent_id}/{path}", role="viewer")
    _same_as_missing(world, "GET", "analytics", f"/campaigns/{world.sent_id}/recipients", params={"state": "bounced"})
    token = world.stack.token(B, "admin")
    url = world.url("analytics", f"/campaigns/{world.sent_id}/stream")
    assert httpx.get(url, params={"access_token": token}, timeout=30).status_code == 404
    # acme's own stream, through the query parameter a browser's EventSource uses, is there.
    own = world.stack.token(A, "viewer")
    with httpx.stream("GET", url, params={"access_token": own}, timeout=30) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        first = next(line for line in stream.iter_lines() if line.startswith("data:"))
    assert world.sent_id in first


def test_templates_and_renders_of_another_tenant_are_unreachable(world: World) -> None:
    tid = world.template_id
    one = {"recipients": [{"email": "x@globex.example", "data": {"first_name": "X"}}]}
    _same_as_missing(world, "GET", "template", f"/templates/{tid}")
    _same_as_missing(world, "GET", "template", f"/templates/{tid}", params={"version": 1})
    _same_as_missing(world, "POST", "template", f"/templates/{tid}/render", json=one)
    _same_as_missing(world, "POST", "template", f"/templates/{tid}/render", json=one | {"version": 1})
    # globex saving the same id makes its own template; acme's is untouched.
    before = _ok(world.call(A, "viewer", "GET", "template", f"/templates/{tid}"))
    mine = {"subject": "globex {{ first_name }}", "html": "<p>globex</p>"}
    assert _ok(world.call(B, "marketer", "PUT", "template", f"/templates/{tid}", json=mine), 201)["version"] == 1
    assert _ok(world.call(A, "viewer", "GET", "template", f"/templates/{tid}")) == before
    rendered = _ok(world.call(A, "viewer", "POST", "template", f"/templates/{tid}/render", json=one))
    assert rendered["results"][0]["subject"] == "Hi X"


def test_render_api_keys_act_only_for_their_tenants(world: World) -> None:
    url = world.url("template", "/templates/welcome-iso-keys/render")
    one = {"recipients": [{"email": "x@example.com", "data": {"first_name": "X"}}]}
    body = {"subject": "Hi {{ first_name }}", "html": "<p>acme only</p>"}
    _ok(world.call(A, "marketer", "PUT", "template", "/templates/welcome-iso-keys", json=body), 201)
    own = httpx.post(url, json=one, headers={"X-API-Key": ACME_TEAM_KEY}, timeout=30)
    assert _ok(own)["results"][0]["subject"] == "Hi X"
    # globex's key names acme as its tenant: refused; without naming it: globex's (missing) template.
    assert httpx.post(url, json=one, headers={"X-API-Key": GLOBEX_TEAM_KEY, "X-Herald-Tenant": A}).status_code == 401
    assert httpx.post(url, json=one, headers={"X-API-Key": GLOBEX_TEAM_KEY}, timeout=30).status_code == 404
    # The service key acts for the tenant it names, and for that tenant only.
    service = {"X-API-Key": SERVICE_KEY}
    assert httpx.post(url, json=one, headers=service | {"X-Herald-Tenant": B}, timeout=30).status_code == 404
    assert httpx.post(url, json=one, headers=service | {"X-Herald-Tenant": A}, timeout=30).status_code == 200
    assert httpx.post(url, json=one, headers=service, timeout=30).status_code == 401  # it must name one


def test_suppressions_of_another_tenant_cannot_be_removed_or_overwritten(world: World) -> None:
    _same_as_missing(world, "DELETE", "campaign", f"/suppressions/{PRIVATE_EMAIL}")
    created = world.call(
        B, "admin", "POST", "campaign", "/suppressions", json={"email": PRIVATE_EMAIL, "reason": "complaint"}
    )
    assert created.status_code == 201  # globex's own entry, not acme's "already suppressed"
    acme = _ok(world.call(A, "admin", "GET", "campaign", "/suppressions"))["suppressions"]
    (entry,) = [s for s in acme if s["email"] == PRIVATE_EMAIL]
    assert entry["reason"] == "manual"


def test_every_stored_key_carries_its_tenant(world: World) -> None:
    stack = world.stack
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    names = stack.settings.resources
    dynamodb = session.client("dynamodb", endpoint_url=stack.urls.emulator)
    tenants = {A, B}
    for table, key, tenant_of in (
        (names.campaigns_table, "tenantId", lambda v: v),
        (names.suppressions_table, "tenantId", lambda v: v),
        (names.ledger_table, "campaignKey", lambda v: v.split("#", 1)[0]),
    ):
        items = dynamodb.scan(TableName=table)["Items"]
        assert items, table
        assert {tenant_of(item[key]["S"]) for item in items} <= tenants, table
    s3 = session.client("s3", endpoint_url=stack.urls.emulator)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=names.bucket).get("Contents", [])]
    assert keys
    assert all(k.split("/")[0] in ("templates", "recipients") and k.split("/")[1] in tenants for k in keys), keys
