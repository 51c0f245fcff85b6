"""`GET /campaigns/{id}/recipients?state=…`: the ledger by state, tenant-scoped and paginated, against the emulator."""

from __future__ import annotations

from typing import Any

import httpx

from herald_common.auth import mint_token

CAMPAIGN = "camp_0123456789abcdefghij"


def _auth(harness, tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(harness.settings, tenant_id=tenant, roles=['viewer'])}"}


async def _row(harness, email: str, **values: str) -> None:
    item: dict[str, Any] = {"campaignKey": {"S": f"acme#{CAMPAIGN}"}, "email": {"S": email}}
    item |= {name: {"S": value} for name, value in values.items()}
    await harness.dynamodb.put_item(TableName=harness.settings.resources.ledger_table, Item=item)


async def test_recipients_by_state_page_by_page(harness):
    await harness.seed_campaign(recipientCount=9)
    bounced = [f"b{i}@example.com" for i in range(5)]
    for email in bounced:
        await _row(harness, email, state="sent", delivery="bounced", messageId=f"m-{email}", reason="ok")
    for i in range(3):
        await _row(harness, f"d{i}@example.com", state="sent", delivery="delivered", openedAt="2024-01-15T11:00:00Z")
    await _row(harness, "p@example.com")  # never claimed yet: pending

    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            url = f"/campaigns/{CAMPAIGN}/recipients"
            pages: list[dict[str, Any]] = []
            params: dict[str, Any] = {"state": "bounced", "limit": 2}
            while True:
                response = await client.get(url, params=params, headers=_auth(harness))
                assert response.status_code == 200, response.text
                pages.append(response.json())
                if not pages[-1]["nextToken"] or len(pages) > 5:
                    break
                params["nextToken"] = pages[-1]["nextToken"]
            opened = (await client.get(url, params={"state": "opened"}, headers=_auth(harness))).json()
            pending = (await client.get(url, params={"state": "pending"}, headers=_auth(harness))).json()
            everyone = (await client.get(url, headers=_auth(harness))).json()
            other_tenant = await client.get(url, params={"state": "bounced"}, headers=_auth(harness, "globex"))
            bad_state = await client.get(url, params={"state": "lost"}, headers=_auth(harness))
            bad_token = await client.get(url, params={"nextToken": "bm9wZQ"}, headers=_auth(harness))
            anonymous = await client.get(url)

    assert [len(p["recipients"]) for p in pages][:3] == [2, 2, 1]
    listed = [r["email"] for p in pages for r in p["recipients"]]
    assert listed == sorted(bounced)  # each once, in address order
    first = pages[0]["recipients"][0]
    assert first == {
        "email": "b0@example.com",
        "state": "sent",
        "delivery": "bounced",
        "reason": "ok",
        "messageId": "m-b0@example.com",
        "batchId": None,
        "sentAt": None,
        "updatedAt": None,
        "complainedAt": None,
        "openedAt": None,
        "machineOpenedAt": None,
        "clickedAt": None,
    }
    assert [r["email"] for r in opened["recipients"]] == ["d0@example.com", "d1@example.com", "d2@example.com"]
    assert [(r["email"], r["state"]) for r in pending["recipients"]] == [("p@example.com", "pending")]
    assert len(everyone["recipients"]) == 9
    assert everyone["nextToken"] is None
    assert other_tenant.status_code == 404
    assert other_tenant.json()["error"] == "CampaignNotFound"
    assert bad_state.status_code == 422
    assert (bad_token.status_code, bad_token.json()["error"]) == (400, "InvalidPageToken")
    assert anonymous.status_code == 401


async def test_a_sparse_state_fills_its_page_past_the_rows_it_skips(harness):
    await harness.seed_campaign(recipientCount=63)
    for i in range(60):
        await _row(harness, f"a{i:02d}@example.com", state="sent", delivery="delivered")
    for i in range(3):
        await _row(harness, f"z{i}@example.com", state="sent", delivery="bounced")

    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            url = f"/campaigns/{CAMPAIGN}/recipients"
            page = (await client.get(url, params={"state": "bounced", "limit": 5}, headers=_auth(harness))).json()

    # Not an empty page with a token: the 60 rows skipped are more than what 10 reads of 5 rows would see.
    assert [r["email"] for r in page["recipients"]] == ["z0@example.com", "z1@example.com", "z2@example.com"]
    assert (page["nextToken"], page["scanLimited"]) == (None, False)
