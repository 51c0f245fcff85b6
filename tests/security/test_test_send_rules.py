"""Test sends obey every sending rule except the ledger: the suppression list, sender authentication, the campaign's
status (draft, scheduled or paused only), the RFC 8058 unsubscribe headers, the tenant's hourly test-email quota (429),
and their hard bounces and complaints reach the tenant's suppression list through analytics."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_analytics.app import create_app as create_analytics_app
from herald_analytics.config import Settings as AnalyticsSettings
from tests.campaign.conftest import wait_for_fanouts
from tests.security.fake_dns import ZoneServer
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign
from tests.security.mime_support import raw_message
from tests.security.test_sender_auth import DOMAIN, _resolver, _tokens, _zone

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings
    from herald_emulator import Emulator

pytestmark = pytest.mark.timeout(90)


async def _messages_of(emulator: Emulator, campaign_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        messages = (await http.get(f"{emulator.url}/_emulator/ses/messages")).json()["messages"]
    return [m for m in messages if m["tags"].get("herald-campaign") == campaign_id]


async def test_a_suppressed_address_gets_no_test_email(herald_settings: HeraldSettings, emulator: Emulator) -> None:
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    async with campaign_service(settings) as (_, client):
        added = await client.post("/suppressions", json={"email": "Gone@Example.com"}, headers=admin)
        assert added.status_code == 201, added.text
        cid = (await new_campaign(client, marketer))["campaignId"]
        answer = await client.post(
            f"/campaigns/{cid}/test-send", json={"emails": ["gone@example.com", "me@example.com"]}, headers=marketer
        )
        assert answer.status_code == 202, answer.text
        assert [s["email"] for s in answer.json()["sent"]] == ["me@example.com"]
        assert answer.json()["failed"] == [{"email": "gone@example.com", "error": "suppressed"}]
    assert [m["destinations"] for m in await _messages_of(emulator, cid)] == [["me@example.com"]]


@pytest.mark.parametrize("action", ["cancel", "send"])
async def test_only_a_draft_scheduled_or_paused_campaign_can_be_test_sent(
    herald_settings: HeraldSettings, emulator: Emulator, action: str
) -> None:
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (app, client):
        cid = (await new_campaign(client, headers, recipients=[{"email": "r@example.org"}]))["campaignId"]
        later = await new_campaign(client, headers, recipients=[{"email": "r@example.org"}])
        scheduled = await client.post(
            f"/campaigns/{later['campaignId']}/send", json={"sendAt": "2099-01-01T00:00:00Z"}, headers=headers
        )
        assert scheduled.json()["status"] == "scheduled"
        ok = await client.post(
            f"/campaigns/{later['campaignId']}/test-send", json={"emails": ["me@example.com"]}, headers=headers
        )
        assert len(ok.json()["sent"]) == 1

        changed = await client.post(f"/campaigns/{cid}/{action}", json={}, headers=headers)
        assert changed.status_code == 202, changed.text
        await wait_for_fanouts(app)
        refused = await client.post(f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"]}, headers=headers)
        assert refused.status_code == 409
        assert refused.json()["error"] == "CampaignNotTestable"
        assert ("cancelled" if action == "cancel" else "sending") in refused.json()["detail"]
        if action == "send":  # paused again, it may be previewed
            assert (await client.post(f"/campaigns/{cid}/pause", headers=headers)).status_code == 202
            again = await client.post(
                f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"]}, headers=headers
            )
            assert len(again.json()["sent"]) == 1
    assert len(await _messages_of(emulator, cid)) == (1 if action == "send" else 0)


async def test_a_sender_that_fails_authentication_cannot_test_send_either(
    herald_settings: HeraldSettings, aws: AwsClients, emulator: Emulator
) -> None:
    settings = campaign_settings(herald_settings, sender_auth="enforce")
    headers = bearer(settings)
    with ZoneServer(_zone(await _tokens(aws), dmarc=None), DOMAIN + ".") as broken:
        async with campaign_service(settings, dns_resolver=_resolver(broken)) as (_, client):
            cid = (await new_campaign(client, headers))["campaignId"]
            refused = await client.post(
                f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"]}, headers=headers
            )
            assert refused.status_code == 400
            assert refused.json()["error"] == "SenderNotAuthenticated"
            assert "_dmarc.example.com has no DMARC record" in refused.json()["detail"]
    assert await _messages_of(emulator, cid) == []


async def test_a_test_email_carries_a_working_one_click_unsubscribe(
    herald_settings: HeraldSettings, emulator: Emulator
) -> None:
    settings = campaign_settings(herald_settings, public_url="https://herald.test")
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    async with campaign_service(settings) as (_, client):
        cid = (await new_campaign(client, marketer))["campaignId"]
        answer = await client.post(f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"]}, headers=marketer)
        (sent,) = answer.json()["sent"]
        (message,) = await _messages_of(emulator, cid)
        link = message["headers"]["List-Unsubscribe"]
        assert link.startswith("<https://herald.test/u/")
        assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        raw = await raw_message(emulator.url, sent["messageId"])
        assert link[1:-1].encode() in raw  # the template's unsubscribe_url is the same link
        one_click = await client.post(link[1:-1].removeprefix("https://herald.test"))
        assert one_click.status_code == 200, one_click.text
        listed = (await client.get("/suppressions", headers=admin)).json()
        assert [(s["email"], s["reason"]) for s in listed["suppressions"]] == [("me@example.com", "unsubscribe")]


async def test_the_hourly_test_email_quota_answers_429_per_tenant(
    herald_settings: HeraldSettings, emulator: Emulator
) -> None:
    settings = campaign_settings(herald_settings, test_send_per_hour=3)
    acme, globex = bearer(settings), bearer(settings, tenant="globex")
    async with campaign_service(settings) as (_, client):
        cid = (await new_campaign(client, acme))["campaignId"]
        url = f"/campaigns/{cid}/test-send"
        two = await client.post(url, json={"emails": ["a@example.com", "b@example.com"]}, headers=acme)
        assert len(two.json()["sent"]) == 2
        over = await client.post(url, json={"emails": ["c@example.com", "d@example.com"]}, headers=acme)
        assert over.status_code == 429
        assert over.json()["error"] == "TestSendLimitExceeded"
        assert set(over.json()) == {"error", "detail"}
        assert 0 < int(over.headers["Retry-After"]) <= 3600
        one = await client.post(url, json={"emails": ["c@example.com"]}, headers=acme)  # what is left still fits
        assert len(one.json()["sent"]) == 1
        assert (await client.post(url, json={"emails": ["d@example.com"]}, headers=acme)).status_code == 429
        other = (await new_campaign(client, globex))["campaignId"]  # another tenant has its own quota
        ok = await client.post(f"/campaigns/{other}/test-send", json={"emails": ["a@example.com"]}, headers=globex)
        assert len(ok.json()["sent"]) == 1
    assert len(await _messages_of(emulator, cid)) == 3


async def test_a_test_emails_bounce_and_complaint_reach_the_suppression_list(
    herald_settings: HeraldSettings, emulator: Emulator
) -> None:
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    analytics = create_analytics_app(
        AnalyticsSettings(resource_prefix=settings.resource_prefix, aws_endpoint_url=settings.aws_endpoint_url)
    )
    bounce, complaint = "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"
    async with campaign_service(settings) as (_, client), analytics.router.lifespan_context(analytics):
        cid = (await new_campaign(client, marketer))["campaignId"]
        body = {"emails": [bounce, complaint]}
        answer = await client.post(f"/campaigns/{cid}/test-send", json=body, headers=marketer)
        assert len(answer.json()["sent"]) == 2
        deadline = time.monotonic() + 30
        listed: dict[str, str] = {}
        while time.monotonic() < deadline and len(listed) < 2:
            await asyncio.sleep(0.2)
            page = (await client.get("/suppressions", headers=admin)).json()["suppressions"]
            listed = {s["email"]: s["reason"] for s in page}
        assert listed == {bounce: "bounce", complaint: "complaint"}
        # ... and the next test email to them is not sent.
        again = await client.post(f"/campaigns/{cid}/test-send", json={"emails": [bounce]}, headers=marketer)
        assert again.json()["failed"] == [{"email": bounce, "error": "suppressed"}]
