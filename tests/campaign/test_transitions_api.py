"""pause, resume and cancel over HTTP: 202 with the new status, 409 where the transition is not allowed."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from tests.campaign.conftest import create_campaign, recipients, wait_for_fanouts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from herald_campaign.config import Settings
    from tests.campaign.conftest import Tokens


async def test_pause_resume_cancel(client: httpx.AsyncClient, auth: Tokens, app: FastAPI) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(3)))["campaignId"]

    async def act(action: str, role: str = "marketer") -> tuple[int, str]:
        r = await client.post(f"/campaigns/{cid}/{action}", headers=auth(role=role))
        return r.status_code, r.json().get("status") or r.json().get("error")

    assert await act("pause") == (409, "InvalidTransition")
    assert await act("resume") == (409, "InvalidTransition")
    assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    assert await act("pause", role="viewer") == (403, "Forbidden")
    assert await act("pause") == (202, "paused")
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert (view["status"], view["statusReason"]) == ("paused", "Paused by marketer@acme")
    assert await act("pause") == (409, "InvalidTransition")
    assert await act("resume") == (202, "sending")
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json()["statusReason"] is None
    assert await act("cancel") == (202, "cancelled")
    assert await act("cancel") == (409, "InvalidTransition")
    assert await act("resume") == (409, "InvalidTransition")
    other = await client.post(f"/campaigns/{cid}/pause", headers=auth("globex"))
    assert other.status_code == 404


async def test_cancel_a_draft(client: httpx.AsyncClient, auth: Tokens) -> None:
    cid = (await create_campaign(client, auth()))["campaignId"]
    response = await client.post(f"/campaigns/{cid}/cancel", headers=auth())
    assert response.json() == {"campaignId": cid, "status": "cancelled"}


async def test_each_move_is_numbered_in_its_write_and_reaches_the_webhooks(
    client: httpx.AsyncClient, auth: Tokens, app: FastAPI, campaign_settings: Settings
) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(3)))["campaignId"]
    assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    for action in ("pause", "resume", "cancel"):
        assert (await client.post(f"/campaigns/{cid}/{action}", headers=auth())).status_code == 202

    dynamodb = app.state.aws.require_dynamodb()
    names = campaign_settings.resources
    item = (await dynamodb.get_item(TableName=names.campaigns_table, Key=_key("campaignId", cid)))["Item"]
    assert item["statusVersion"] == {"N": "4"}  # send, pause, resume, cancel
    # The webhooks consumer of this app read the four announcements: its log of the newest move seen per campaign.
    deadline = time.monotonic() + 30
    while True:
        seen = await dynamodb.get_item(TableName=names.webhooks_table, Key=_key("webhookId", f"status#{cid}"))
        if seen.get("Item", {}).get("statusVersion") == {"N": "4"}:
            break
        assert time.monotonic() < deadline, seen.get("Item")
        await asyncio.sleep(0.1)
    assert seen["Item"]["status"] == {"S": "cancelled"}


def _key(name: str, value: str) -> dict[str, Any]:
    return {"tenantId": {"S": "acme"}, name: {"S": value}}
