"""PATCH and DELETE /campaigns/{id}: drafts only, tenant-scoped, against the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.campaign.conftest import create_campaign, recipients, wait_for_fanouts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients
    from tests.campaign.conftest import Tokens


async def _keys(aws: AwsClients, settings: Settings, cid: str) -> list[str]:
    listing = await aws.require_s3().list_objects_v2(Bucket=settings.resources.bucket, Prefix=f"recipients/acme/{cid}/")
    return sorted(obj["Key"].rsplit("/", 1)[1] for obj in listing.get("Contents", []))


async def test_patch_changes_the_given_fields_of_a_draft(client: httpx.AsyncClient, auth: Tokens) -> None:
    created = await create_campaign(client, auth(), fromName="News", replyTo="help@example.com", tags={"a": "1"})
    cid = created["campaignId"]
    body = {"name": "Renamed", "templateId": "promo", "fromAddress": "sales@Example.COM", "fromName": None}
    response = await client.patch(f"/campaigns/{cid}", json=body, headers=auth())
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["templateId"], updated["fromAddress"]) == ("Renamed", "promo", "sales@example.com")
    assert updated["fromName"] is None
    assert (updated["replyTo"], updated["tags"]) == ("help@example.com", {"a": "1"})  # untouched
    assert updated["updatedAt"] > created["updatedAt"]
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json() == updated
    tags = await client.patch(f"/campaigns/{cid}", json={"tags": {"b": "2"}, "replyTo": None}, headers=auth())
    assert (tags.json()["tags"], tags.json()["replyTo"], tags.json()["name"]) == ({"b": "2"}, None, "Renamed")


async def test_patch_refuses_bad_bodies_other_tenants_and_non_drafts(
    client: httpx.AsyncClient, auth: Tokens, app: FastAPI
) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(2)))["campaignId"]
    for bad in ({}, {"name": "a\r\nBcc: x@example.com"}, {"fromAddress": "nope"}, {"name": None}, {"status": "sent"}):
        response = await client.patch(f"/campaigns/{cid}", json=bad, headers=auth())
        assert response.status_code == 422, bad
    assert (await client.patch(f"/campaigns/{cid}", json={"name": "x"}, headers=auth("globex"))).status_code == 404
    viewer = await client.patch(f"/campaigns/{cid}", json={"name": "x"}, headers=auth(role="viewer"))
    assert viewer.status_code == 403
    assert (await client.patch(f"/campaigns/{cid}", json={"name": "x"})).status_code == 401
    assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    late = await client.patch(f"/campaigns/{cid}", json={"name": "x"}, headers=auth())
    assert (late.status_code, late.json()["error"]) == (409, "CampaignNotDraft")
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json()["name"] == "Spring sale"


async def test_delete_removes_a_draft_and_its_recipient_parts(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = (await create_campaign(client, auth(), recipients=[*recipients(3), "broken"]))["campaignId"]
    other = (await create_campaign(client, auth(), recipients=recipients(2)))["campaignId"]
    csv = "email\nx@example.com\nnot-an-address\n"
    as_csv = auth() | {"Content-Type": "text/csv"}
    upload = await client.post(f"/campaigns/{cid}/recipients", content=csv, headers=as_csv)
    assert upload.status_code == 200
    assert await _keys(aws, campaign_settings, cid) == [
        "invalid-1.jsonl", "invalid-2.jsonl", "part-00001.jsonl", "part-00002.jsonl",
    ]  # fmt: skip
    assert (await client.delete(f"/campaigns/{cid}", headers=auth("globex"))).status_code == 404
    assert (await client.delete(f"/campaigns/{cid}", headers=auth(role="viewer"))).status_code == 403
    response = await client.delete(f"/campaigns/{cid}", headers=auth())
    assert (response.status_code, response.content) == (204, b"")
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).status_code == 404
    assert await _keys(aws, campaign_settings, cid) == []
    assert await _keys(aws, campaign_settings, other) == ["part-00001.jsonl"]  # another campaign keeps its list
    again = await client.delete(f"/campaigns/{cid}", headers=auth())
    assert (again.status_code, again.json()["error"]) == (404, "CampaignNotFound")


async def test_delete_refuses_anything_but_a_draft(client: httpx.AsyncClient, auth: Tokens) -> None:
    cid = (await create_campaign(client, auth()))["campaignId"]
    assert (await client.post(f"/campaigns/{cid}/cancel", headers=auth())).status_code == 202
    response = await client.delete(f"/campaigns/{cid}", headers=auth())
    assert (response.status_code, response.json()["error"]) == (409, "CampaignNotDraft")
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json()["status"] == "cancelled"
