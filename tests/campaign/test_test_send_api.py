"""POST /campaigns/{id}/test-send: rendered by the template service (stand-in), sent through the emulator's SES,
tagged as a test, outside the ledger and the statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_campaign.app import create_app
from herald_campaign.config import Settings
from tests.campaign.conftest import create_campaign, recipients, wait_for_fanouts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from herald_common.aws import AwsClients
    from herald_emulator import Emulator
    from tests.campaign.conftest import FakeTemplates, Tokens

pytestmark = pytest.mark.timeout(60)


async def _messages(emulator: Emulator, campaign_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{emulator.url}/_emulator/ses/messages")
    return [m for m in response.json()["messages"] if m["tags"].get("herald-campaign") == campaign_id]


async def _ledger_items(aws: AwsClients, settings: Settings, campaign_id: str) -> list[dict[str, Any]]:
    response = await aws.require_dynamodb().query(
        TableName=settings.resources.ledger_table,
        KeyConditionExpression="campaignKey = :k",
        ExpressionAttributeValues={":k": {"S": f"acme#{campaign_id}"}},
    )
    return response.get("Items", [])


async def test_renders_and_sends_tagged_test_emails(
    client: httpx.AsyncClient,
    auth: Tokens,
    templates: FakeTemplates,
    emulator: Emulator,
    aws: AwsClients,
    campaign_settings: Settings,
) -> None:
    cid = (await create_campaign(client, auth(), fromName="News", recipients=recipients(2)))["campaignId"]
    headers = auth()
    body = {"emails": ["ada@example.com", "Bob@Example.com", "ada@example.com"], "data": {"name": "Ada"}}
    response = await client.post(f"/campaigns/{cid}/test-send", json=body, headers=headers)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["campaignId"] == cid
    assert answer["failed"] == []
    assert [s["email"] for s in answer["sent"]] == ["ada@example.com", "Bob@example.com"]

    # Rendered with the caller's token, the latest version (a draft has none pinned), the given data.
    render = templates.renders[-1]
    assert headers["Authorization"] in templates.authorizations
    assert "version" not in render
    assert [(r["email"], r["data"]) for r in render["recipients"]] == [
        ("ada@example.com", {"name": "Ada"}), ("Bob@example.com", {"name": "Ada"}),
    ]  # fmt: skip

    messages = await _messages(emulator, cid)
    assert sorted(m["messageId"] for m in messages) == sorted(s["messageId"] for s in answer["sent"])
    for message in messages:
        assert message["tags"]["herald-test"] == "true"
        assert message["tags"]["herald-tenant"] == "acme"
        assert message["headers"]["X-Herald-Test"] == "true"
        assert message["configurationSet"] == campaign_settings.resources.configuration_set
        assert message["subject"] == "[TEST] Hello Ada (v3)"
        assert message["source"].endswith("news@example.com>")
    assert {d for m in messages for d in m["destinations"]} == {"ada@example.com", "Bob@example.com"}

    # Outside the ledger and the statistics; the campaign is still a draft.
    assert await _ledger_items(aws, campaign_settings, cid) == []
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["status"] == "draft"
    assert (view["counts"]["sent"], view["counts"]["final"]) == (0, 0)


async def test_a_paused_campaign_renders_its_pinned_version_and_render_errors_fail(
    client: httpx.AsyncClient, auth: Tokens, templates: FakeTemplates, app: FastAPI, emulator: Emulator
) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(1)))["campaignId"]
    assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    # A sending campaign cannot be test-sent (tests/security/test_test_send_rules.py); a paused one can.
    assert (await client.post(f"/campaigns/{cid}/pause", headers=auth())).status_code == 202
    templates.versions["newsletter"] = 7  # a newer version after the send: the test still shows the pinned one
    ok = await client.post(f"/campaigns/{cid}/test-send", json={"emails": ["a@example.com"]}, headers=auth())
    assert templates.renders[-1]["version"] == 3
    assert len(ok.json()["sent"]) == 1
    broken = await client.post(
        f"/campaigns/{cid}/test-send", json={"emails": ["a@example.com"], "data": {"fail": 1}}, headers=auth()
    )
    assert broken.status_code == 202
    assert broken.json()["sent"] == []
    assert broken.json()["failed"][0]["email"] == "a@example.com"
    assert broken.json()["failed"][0]["error"].startswith("render_error: ")
    assert len(await _messages(emulator, cid)) == 1


async def test_refuses_bad_requests(client: httpx.AsyncClient, auth: Tokens, templates: FakeTemplates) -> None:
    cid = (await create_campaign(client, auth()))["campaignId"]
    url = f"/campaigns/{cid}/test-send"
    for bad in (
        {"emails": []},
        {"emails": [f"u{i}@example.com" for i in range(11)]},
        {"emails": ["a@example.com\r\nBcc: victim@example.com"]},
        {"emails": ["not-an-address"]},
        {"emails": ["a@example.com"], "extra": 1},
    ):
        assert (await client.post(url, json=bad, headers=auth())).status_code == 422, bad
    ok = {"emails": ["a@example.com"]}
    assert (await client.post(url, json=ok, headers=auth(role="viewer"))).status_code == 403
    assert (await client.post(url, json=ok)).status_code == 401
    assert (await client.post(url, json=ok, headers=auth("globex"))).status_code == 404
    del templates.versions["newsletter"]
    gone = await client.post(url, json=ok, headers=auth())
    assert (gone.status_code, gone.json()["error"]) == (400, "TemplateNotFound")


@pytest.fixture
async def v1_client(campaign_settings: Settings, templates: FakeTemplates) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(**(campaign_settings.model_dump() | {"ses_api_version": "v1"}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(templates.handle), base_url="http://templates") as tc:
        application = create_app(settings, template_client=tc)
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://campaign") as c,
        ):
            yield c


async def test_ses_v1_sends_raw_with_the_same_tags(
    v1_client: httpx.AsyncClient, auth: Tokens, emulator: Emulator
) -> None:
    cid = (await create_campaign(v1_client, auth()))["campaignId"]
    response = await v1_client.post(f"/campaigns/{cid}/test-send", json={"emails": ["a@example.com"]}, headers=auth())
    assert len(response.json()["sent"]) == 1
    (message,) = await _messages(emulator, cid)
    assert message["tags"]["herald-test"] == "true"
    assert message["headers"]["X-Herald-Test"] == "true"
    assert message["messageId"] == response.json()["sent"][0]["messageId"]
