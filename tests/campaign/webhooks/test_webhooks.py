"""Webhooks: the routes (admin, tenant-scoped, the secret shown once), the URL rule against SSRF, the retry schedule,
and the event ids, which must be analytics' own (tests/e2e/test_webhooks_flow.py delivers them for real)."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pytest

from herald_analytics.events.parse import parse_event
from herald_campaign.webhooks.delivery import MAX_BACKOFF_SECONDS, retry_backoff
from herald_campaign.webhooks.events import email_events
from herald_campaign.webhooks.urls import WebhookUrlRefused, check_url
from tests.analytics.conftest import ses_event, sns_envelope

if TYPE_CHECKING:
    import httpx

    from tests.campaign.conftest import Tokens

EVENTS = ["email.delivered", "email.bounced"]


async def test_an_admin_registers_lists_and_deletes_endpoints(client: httpx.AsyncClient, auth: Tokens) -> None:
    admin = auth(role="admin")
    created = await client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": EVENTS}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["webhookId"].startswith("wh_")
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) >= 24
    assert (body["url"], sorted(body["events"]), body["status"]) == (
        "http://127.0.0.1:9/hook",
        sorted(EVENTS),
        "active",
    )

    listed = (await client.get("/webhooks", headers=admin)).json()["webhooks"]
    assert [w["webhookId"] for w in listed] == [body["webhookId"]]
    assert "secret" not in listed[0]  # shown once
    assert (await client.get("/webhooks", headers=auth("globex", "admin"))).json() == {"webhooks": []}
    deliveries = await client.get(f"/webhooks/{body['webhookId']}/deliveries", headers=admin)
    assert deliveries.json() == {"deliveries": []}

    other_tenant = await client.delete(f"/webhooks/{body['webhookId']}", headers=auth("globex", "admin"))
    assert (other_tenant.status_code, other_tenant.json()["error"]) == (404, "WebhookNotFound")
    assert (await client.delete(f"/webhooks/{body['webhookId']}", headers=admin)).status_code == 204
    assert (await client.delete(f"/webhooks/{body['webhookId']}", headers=admin)).status_code == 404
    assert (await client.get(f"/webhooks/{body['webhookId']}/deliveries", headers=admin)).status_code == 404


async def test_bad_endpoints_are_refused(client: httpx.AsyncClient, auth: Tokens) -> None:
    admin = auth(role="admin")
    marketer = await client.post("/webhooks", json={"url": "https://example.com/h", "events": EVENTS}, headers=auth())
    unknown_type = await client.post("/webhooks", json={"url": "http://127.0.0.1/h", "events": ["x"]}, headers=admin)
    no_events = await client.post("/webhooks", json={"url": "http://127.0.0.1/h", "events": []}, headers=admin)
    private = await client.post("/webhooks", json={"url": "http://10.1.2.3/h", "events": EVENTS}, headers=admin)
    ftp = await client.post("/webhooks", json={"url": "ftp://127.0.0.1/h", "events": EVENTS}, headers=admin)
    assert marketer.status_code == 403
    assert (unknown_type.status_code, no_events.status_code) == (422, 422)
    assert (private.status_code, private.json()["error"]) == (422, "WebhookUrlRefused")
    assert ftp.json()["error"] == "WebhookUrlRefused"


async def test_an_idempotent_create_makes_one_endpoint(client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth(role="admin") | {"Idempotency-Key": "hook-1"}
    body = {"url": "http://127.0.0.1:9/hook", "events": EVENTS}
    first = await client.post("/webhooks", json=body, headers=headers)
    again = await client.post("/webhooks", json=body, headers=headers)
    assert again.json() == first.json()  # the same secret: one endpoint
    assert len((await client.get("/webhooks", headers=auth(role="admin"))).json()["webhooks"]) == 1


def _resolver(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("url", "addresses", "dev", "allowed"),
    [
        ("https://hooks.example.com/x", ["93.184.216.34"], False, True),
        ("http://hooks.example.com/x", ["93.184.216.34"], False, False),  # prod: https only
        ("https://metadata.example/x", ["169.254.169.254"], False, False),  # the instance metadata service
        ("https://internal.example/x", ["10.0.0.5"], False, False),
        ("https://mixed.example/x", ["93.184.216.34", "192.168.1.1"], False, False),  # every address must be public
        ("https://v6.example/x", ["fd00::1"], False, False),
        ("https://localhost/x", ["127.0.0.1"], False, False),
        ("http://localhost:8080/x", ["127.0.0.1"], True, True),  # dev: a receiver on this machine
        ("http://internal.example/x", ["10.0.0.5"], True, False),  # dev still refuses private ranges
        ("https://user:pw@hooks.example.com/x", ["93.184.216.34"], False, False),
    ],
)
async def test_the_url_rule(url: str, addresses: list[str], dev: bool, allowed: bool) -> None:
    if allowed:
        await check_url(url, allow_loopback=dev, resolver=_resolver(*addresses))
    else:
        with pytest.raises(WebhookUrlRefused):
            await check_url(url, allow_loopback=dev, resolver=_resolver(*addresses))


def test_retries_back_off_exponentially_up_to_an_hour() -> None:
    assert [retry_backoff(n, 30) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert retry_backoff(20, 30) == MAX_BACKOFF_SECONDS
    total, n = 0, 0
    while total <= 24 * 3600:
        n += 1
        total += retry_backoff(n, 30)
    assert 25 <= n <= 35  # attempts in 24 h


@pytest.mark.parametrize(
    ("kind", "expected_type", "detail"),
    [
        ("Send", "email.sent", {}),
        ("Delivery", "email.delivered", {}),
        ("Bounce", "email.bounced", {}),
        ("Complaint", "email.complained", {}),
        ("Open", "email.opened", {}),
        ("Click", "email.clicked", {}),
        ("Reject", "email.failed", {}),
    ],
)
def test_email_events_carry_analytics_event_ids(kind: str, expected_type: str, detail: dict[str, object]) -> None:
    raw = ses_event(kind, recipient="Ada@Example.com", **detail)
    (event,) = email_events(sns_envelope(raw))
    parsed = parse_event(raw)
    assert parsed is not None
    assert event.event_id == parsed.event_id(parsed.recipients[0])
    assert event.type.value == expected_type
    payload = event.payload()
    assert set(payload) == {"id", "type", "createdAt", "tenantId", "campaignId", "data"}
    assert (payload["tenantId"], payload["campaignId"]) == ("acme", raw["mail"]["tags"]["herald-campaign"][0])
    assert payload["data"]["email"] == "ada@example.com"
    assert json.loads(json.dumps(payload)) == payload


def test_test_sends_and_uncounted_types_make_no_webhook_event() -> None:
    assert email_events(sns_envelope(ses_event("Delivery", test=True))) == []
    assert email_events(json.dumps(ses_event("DeliveryDelay"))) == []
    assert email_events(json.dumps(ses_event("Delivery", tenant=None, campaign=None, tags=False, headers=False))) == []
