"""Abuse limits, as an abuser would hit them: per-tenant request rate (429 + Retry-After, SPEC error shape), request
body size on every service (413), recipients per campaign and template size — each configurable."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest

from herald_analytics.app import create_app as create_analytics
from herald_analytics.config import Settings as AnalyticsSettings
from herald_common.auth import mint_token
from herald_common.rate_limit import RateLimiter
from herald_processor.app import create_app as create_processor
from herald_processor.config import Settings as ProcessorSettings
from herald_template.app import create_app as create_template
from herald_template.config import Settings as TemplateSettings
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(90)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_burst_then_the_rate_and_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token comes back every 1/rate seconds
    assert limiter.take("b") == 0.0  # another key has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 60
    assert [limiter.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refilled to the burst, never beyond


def test_memory_stays_bounded_however_many_keys_call() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, max_keys=100)
    for n in range(1000):
        limiter.take(f"client:{n}")
        clock.now += 0.01
    assert len(limiter._buckets) <= 100
    assert limiter.take("client:999") > 0  # the busiest, newest keys are kept


# One token every 100 s: the few requests of a test can take seconds on a loaded machine, and a refill of one every
# 2 s let the one meant to be refused through.
SLOW_REFILL = 0.01


async def test_a_tenant_over_its_rate_gets_429_with_retry_after_and_others_do_not(
    herald_settings: HeraldSettings,
) -> None:
    settings = campaign_settings(herald_settings, rate_limit_per_second=SLOW_REFILL, rate_limit_burst=3)
    acme, globex = bearer(settings, "acme"), bearer(settings, "globex")
    async with campaign_service(settings) as (_, client):
        assert [(await client.get("/campaigns", headers=acme)).status_code for _ in range(3)] == [200, 200, 200]
        refused = await client.get("/campaigns", headers=acme)
        assert refused.status_code == 429
        assert refused.json()["error"] == "TooManyRequests"
        assert "acme" in refused.json()["detail"]
        assert set(refused.json()) == {"error", "detail"}
        assert 90 <= int(refused.headers["Retry-After"]) <= 100  # one token every 100 s
        # A write is refused too, and nothing happens: no campaign is created.
        assert (await client.post("/campaigns", json={"name": "x"}, headers=acme)).status_code == 429
        # Another tenant, health and metrics are not affected.
        assert (await client.get("/campaigns", headers=globex)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200


async def test_a_forged_token_cannot_spend_another_tenants_budget(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings, rate_limit_per_second=SLOW_REFILL, rate_limit_burst=2)
    forged_claims = {"sub": "x", "tenant_id": "acme", "roles": ["admin"], "iss": "herald", "aud": "herald-api"}
    forged = {
        "Authorization": "Bearer "
        + jwt.encode(forged_claims | {"exp": 4102444800}, "not-the-secret-but-long-enough-for-hs256")
    }
    async with campaign_service(settings) as (_, client):
        answers = [(await client.get("/campaigns", headers=forged)).status_code for _ in range(4)]
        assert answers[:2] == [401, 401]
        assert answers[2:] == [429, 429]  # counted against the caller's address, not acme
        assert (await client.get("/campaigns", headers=bearer(settings, "acme"))).status_code == 200


async def test_the_public_unsubscribe_route_is_limited_per_client(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings, rate_limit_per_second=SLOW_REFILL, rate_limit_burst=2)
    async with campaign_service(settings) as (_, client):
        answers = [(await client.get("/u/not-a-token")).status_code for _ in range(3)]
        assert answers == [404, 404, 429]


# --- request bodies ---------------------------------------------------------------------------------------------
async def test_campaign_bodies_are_bounded_and_the_upload_route_has_its_own_bound(
    herald_settings: HeraldSettings,
) -> None:
    settings = campaign_settings(herald_settings, max_request_bytes=4000, max_upload_bytes=60_000)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        big = {"name": "x" * 5000, "templateId": "newsletter", "fromAddress": "news@example.com"}
        refused = await client.post("/campaigns", json=big, headers=headers)
        assert refused.status_code == 413
        assert refused.json() == {"error": "PayloadTooLarge", "detail": refused.json()["detail"]}
        assert "4000" in refused.json()["detail"]
        cid = (await new_campaign(client, headers))["campaignId"]
        csv_headers = headers | {"Content-Type": "text/csv"}
        rows = "email\n" + "".join(f"user{i}@example.com\n" for i in range(1000))  # ~22 KB: over 4000, under 60000
        fine = await client.post(f"/campaigns/{cid}/recipients", content=rows.encode(), headers=csv_headers)
        assert fine.status_code == 200, fine.text
        assert fine.json()["accepted"] == 1000

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            yield b"email\n"
            for n in range(40):
                yield "".join(f"more{n}x{i}@example.com\n" for i in range(100)).encode()

        streamed = await client.post(f"/campaigns/{cid}/recipients", content=chunks(), headers=csv_headers)
        assert streamed.status_code == 413
        assert streamed.json()["error"] == "PayloadTooLarge"
        campaign = (await client.get(f"/campaigns/{cid}", headers=headers)).json()
        assert campaign["counts"]["accepted"] == 1000  # nothing of the refused upload was kept


def _asgi(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


@pytest.mark.parametrize("service", ["analytics", "processor", "template"])
async def test_every_other_service_bounds_request_bodies_too(herald_settings: HeraldSettings, service: str) -> None:
    base: dict[str, Any] = {"resource_prefix": herald_settings.resource_prefix, "max_request_bytes": 1000}
    if service == "analytics":
        app = create_analytics(AnalyticsSettings(**base))
    elif service == "processor":
        app = create_processor(ProcessorSettings(**base))
    else:
        app = create_template(TemplateSettings(**base, template_max_request_bytes=1000))
    token = mint_token(herald_settings, tenant_id="acme", roles=["admin"])
    async with _asgi(app) as client:  # the limit answers before routing: no lifespan needed
        answer = await client.post(
            "/render", content=b"{" + b" " * 5000 + b"}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 413
    assert answer.json()["error"] == "PayloadTooLarge"


# --- recipients per campaign, template size ---------------------------------------------------------------------
async def test_a_campaign_holds_at_most_the_configured_recipients(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings, max_campaign_recipients=5)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        many = [{"email": f"u{i}@example.com"} for i in range(6)]
        refused = await client.post(
            "/campaigns",
            json={"name": "x", "templateId": "newsletter", "fromAddress": "n@example.com", "recipients": many},
            headers=headers,
        )
        assert refused.status_code == 413
        assert refused.json()["error"] == "RecipientLimitExceeded"
        assert (await client.get("/campaigns", headers=headers)).json()["campaigns"] == []

        cid = (await new_campaign(client, headers, recipients=many[:3]))["campaignId"]
        over = await client.post(f"/campaigns/{cid}/recipients", json={"recipients": many[3:]}, headers=headers)
        assert over.status_code == 413
        assert over.json()["error"] == "RecipientLimitExceeded"
        # duplicates do not count; the limit is on stored recipients
        fits = await client.post(
            f"/campaigns/{cid}/recipients", json={"recipients": [*many[:3], *many[3:5]]}, headers=headers
        )
        assert fits.status_code == 200, fits.text
        assert fits.json() == {"accepted": 2, "invalid": 0, "duplicates": 3, "total": 5}
        assert (await client.get(f"/campaigns/{cid}", headers=headers)).json()["counts"]["accepted"] == 5


async def test_a_template_over_the_configured_size_is_refused(herald_settings: HeraldSettings) -> None:
    settings = TemplateSettings(
        resource_prefix=herald_settings.resource_prefix,
        aws_endpoint_url=herald_settings.aws_endpoint_url,
        template_max_source_bytes=2000,
    )
    app = create_template(settings)
    token = mint_token(settings, tenant_id="t" + secrets.token_hex(4), roles=["marketer"])
    headers = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app), _asgi(app) as client:
        refused = await client.put("/templates/big", json={"subject": "S", "html": "x" * 2500}, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["error"] == "TemplateTooLarge"
        assert (await client.get("/templates/big", headers=headers)).status_code == 404
        assert (
            await client.put("/templates/big", json={"subject": "S", "html": "x" * 1500}, headers=headers)
        ).status_code == 201
