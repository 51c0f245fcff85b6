"""Create, read and list campaigns over HTTP against the emulator."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from tests.campaign.conftest import create_campaign, recipients

if TYPE_CHECKING:
    import httpx

    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients
    from tests.campaign.conftest import Tokens


async def test_create_stores_a_draft_with_filtered_recipients(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    listed = [*recipients(3), {"email": "USER0@Example.com"}, {"email": "broken"}, "bare@example.com"]
    created = await create_campaign(client, auth(), recipients=listed, tags={"team": "growth"}, fromName="News")
    assert re.fullmatch(r"camp_[a-z0-9]{20}", created["campaignId"])
    assert created["status"] == "draft"
    assert created["fromName"] == "News"
    assert created["tags"] == {"team": "growth"}
    assert created["counts"] | {} == {
        "recipients": 5, "accepted": 4, "invalid": 1, "duplicates": 1,
        "sent": 0, "failed": 0, "suppressed": 0, "unknown": 0, "final": 0,
    }  # fmt: skip
    key = f"recipients/acme/{created['campaignId']}/part-00001.jsonl"
    obj = await aws.require_s3().get_object(Bucket=campaign_settings.resources.bucket, Key=key)
    lines = [json.loads(line) for line in (await obj["Body"].read()).decode().splitlines()]
    assert [line["email"] for line in lines] == [*(f"user{i}@example.com" for i in range(3)), "bare@example.com"]
    assert lines[1]["data"] == {"n": 1}


async def test_read_and_tenant_isolation(client: httpx.AsyncClient, auth: Tokens) -> None:
    created = await create_campaign(client, auth("acme"))
    cid = created["campaignId"]
    mine = await client.get(f"/campaigns/{cid}", headers=auth("acme", "viewer"))
    assert mine.status_code == 200
    assert mine.json() == created
    theirs = await client.get(f"/campaigns/{cid}", headers=auth("globex", "admin"))
    assert theirs.status_code == 404
    assert theirs.json()["error"] == "CampaignNotFound"
    listed = await client.get("/campaigns", headers=auth("globex", "viewer"))
    assert listed.json() == {"campaigns": [], "nextToken": None}
    missing = await client.get("/campaigns/camp_00000000000000000000", headers=auth())
    assert missing.status_code == 404
    assert (await client.get("/campaigns/nonsense", headers=auth())).status_code == 404


async def test_list_pages_newest_first_and_filters_by_status(client: httpx.AsyncClient, auth: Tokens) -> None:
    ids = [(await create_campaign(client, auth(), name=f"c{i}"))["campaignId"] for i in range(3)]
    cancel = await client.post(f"/campaigns/{ids[0]}/cancel", headers=auth())
    assert cancel.status_code == 202
    seen: list[str] = []
    token = None
    while True:
        params = {"limit": 2} | ({"nextToken": token} if token else {})
        page = (await client.get("/campaigns", params=params, headers=auth(role="viewer"))).json()
        seen += [c["campaignId"] for c in page["campaigns"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == ids[::-1]
    drafts = (await client.get("/campaigns", params={"status": "draft"}, headers=auth())).json()
    assert {c["campaignId"] for c in drafts["campaigns"]} == set(ids[1:])
    bad = await client.get("/campaigns", params={"nextToken": "garbage!"}, headers=auth())
    assert (bad.status_code, bad.json()["error"]) == (400, "InvalidNextToken")


async def test_a_page_token_does_not_cross_tenants(client: httpx.AsyncClient, auth: Tokens) -> None:
    for i in range(2):
        await create_campaign(client, auth(), name=f"c{i}")
    token = (await client.get("/campaigns", params={"limit": 1}, headers=auth())).json()["nextToken"]
    other = await client.get("/campaigns", params={"nextToken": token}, headers=auth("globex"))
    assert other.status_code == 400


async def test_auth_and_validation_errors(client: httpx.AsyncClient, auth: Tokens) -> None:
    body = {"name": "x", "templateId": "newsletter", "fromAddress": "news@example.com"}
    assert (await client.post("/campaigns", json=body)).status_code == 401
    forbidden = await client.post("/campaigns", json=body, headers=auth(role="viewer"))
    assert (forbidden.status_code, forbidden.json()["error"]) == (403, "Forbidden")
    bad = await client.post("/campaigns", json=body | {"fromName": "a\r\nBcc: x@y.com"}, headers=auth())
    assert bad.status_code == 422
    assert bad.json()["error"] == "ValidationError"
    assert "fromName" in bad.json()["detail"]
