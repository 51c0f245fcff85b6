"""pause, resume and cancel over HTTP: 202 with the new status, 409 where the transition is not allowed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.campaign.conftest import create_campaign, recipients, wait_for_fanouts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

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
