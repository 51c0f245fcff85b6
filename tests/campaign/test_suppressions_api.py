"""The tenant's suppression list (admin) and the public unsubscribe link."""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald_common.unsubscribe import UnsubscribeTarget, make_token

if TYPE_CHECKING:
    import httpx

    from herald_campaign.config import Settings
    from tests.campaign.conftest import Tokens


async def test_suppression_crud(client: httpx.AsyncClient, auth: Tokens) -> None:
    admin = auth(role="admin")
    created = await client.post("/suppressions", json={"email": "Ada@Example.com"}, headers=admin)
    assert created.status_code == 201
    assert created.json()["email"] == "ada@example.com"
    assert created.json()["reason"] == "manual"
    again = await client.post("/suppressions", json={"email": "ada@example.com", "reason": "bounce"}, headers=admin)
    assert (again.status_code, again.json()["reason"]) == (200, "manual")
    for i in range(3):
        await client.post("/suppressions", json={"email": f"u{i}@example.com", "reason": "complaint"}, headers=admin)
    emails, token = [], None
    while True:
        params = {"limit": 3} | ({"nextToken": token} if token else {})
        page = (await client.get("/suppressions", params=params, headers=admin)).json()
        emails += [s["email"] for s in page["suppressions"]]
        token = page["nextToken"]
        if not token:
            break
    assert sorted(emails) == ["ada@example.com", "u0@example.com", "u1@example.com", "u2@example.com"]
    assert (await client.get("/suppressions", headers=auth("globex", "admin"))).json()["suppressions"] == []
    assert (await client.get("/suppressions", headers=auth(role="marketer"))).status_code == 403
    assert (await client.post("/suppressions", json={"email": "bad"}, headers=admin)).status_code == 422
    assert (await client.delete("/suppressions/ADA@example.com", headers=auth("globex", "admin"))).status_code == 404
    assert (await client.delete("/suppressions/ADA@example.com", headers=admin)).status_code == 204
    gone = await client.delete("/suppressions/ada@example.com", headers=admin)
    assert (gone.status_code, gone.json()["error"]) == (404, "SuppressionNotFound")


async def test_unsubscribe_link(client: httpx.AsyncClient, auth: Tokens, campaign_settings: Settings) -> None:
    target = UnsubscribeTarget("acme", "camp_0123456789abcdef0123", "Reader@Example.com")
    token = make_token(campaign_settings.unsubscribe_secret, target)

    page = await client.get(f"/u/{token}")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert '<form method="post">' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    listed = (await client.get("/suppressions", headers=auth(role="admin"))).json()["suppressions"]
    assert listed == []  # opening the page does not unsubscribe

    one_click = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(2):  # idempotent
        response = await client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click", headers=one_click)
        assert response.status_code == 200
        assert response.json()["status"] == "unsubscribed"
    listed = (await client.get("/suppressions", headers=auth(role="admin"))).json()["suppressions"]
    assert [(s["email"], s["reason"], s["campaignId"]) for s in listed] == [
        ("reader@example.com", "unsubscribe", target.campaign_id)
    ]
    html = await client.post(f"/u/{token}", headers={"Accept": "text/html"})
    assert "will not receive" in html.text

    forged = make_token("another-secret", target)
    for method in ("GET", "POST"):
        response = await client.request(method, f"/u/{forged}")
        assert (response.status_code, response.json()["error"]) == (404, "UnsubscribeLinkInvalid")
    assert (await client.post("/u/not-a-token")).status_code == 404
