"""Recipient uploads: JSON and CSV streamed into parts, de-duplicated against what the campaign holds."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from herald_campaign.config import Settings
from tests.campaign.conftest import create_campaign, drain_jobs, recipients, wait_for_fanouts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from herald_common.aws import AwsClients
    from tests.campaign.conftest import Tokens


@pytest.fixture
def campaign_settings(campaign_settings: Settings) -> Settings:
    # Small parts, so an upload spreads over several of them.
    return Settings(**(campaign_settings.model_dump() | {"recipients_per_part": 4}))


async def _s3_parts(aws: AwsClients, settings: Settings, cid: str) -> list[list[str]]:
    s3 = aws.require_s3()
    listing = await s3.list_objects_v2(Bucket=settings.resources.bucket, Prefix=f"recipients/acme/{cid}/part-")
    parts = []
    for obj in listing.get("Contents", []):
        body = await (await s3.get_object(Bucket=settings.resources.bucket, Key=obj["Key"]))["Body"].read()
        parts.append([json.loads(line)["email"] for line in body.decode().splitlines()])
    return parts


async def test_json_upload_appends_new_parts_and_dedupes(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings, app: FastAPI
) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(3)))["campaignId"]

    async def body() -> AsyncIterator[bytes]:  # arrives in small pieces, as a large upload would
        data = json.dumps({"recipients": [*recipients(10), "USER11@EXAMPLE.COM", {"email": "nope"}]}).encode()
        for i in range(0, len(data), 50):
            yield data[i : i + 50]

    response = await client.post(
        f"/campaigns/{cid}/recipients", content=body(), headers=auth() | {"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 8, "invalid": 1, "duplicates": 3, "total": 12}
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["counts"]["accepted"] == 11
    assert (view["counts"]["duplicates"], view["counts"]["invalid"]) == (3, 1)
    parts = await _s3_parts(aws, campaign_settings, cid)
    assert [len(p) for p in parts] == [3, 4, 4]
    assert [e for p in parts for e in p] == [*(f"user{i}@example.com" for i in range(10)), "USER11@example.com"]

    # Every part reaches the queue, in order.
    assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    jobs = await drain_jobs(aws, campaign_settings)
    assert [r["email"] for j in jobs for r in j["recipients"]] == [e for p in parts for e in p]


async def test_csv_upload_turns_other_columns_into_data(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = (await create_campaign(client, auth()))["campaignId"]
    csv_body = 'email,first_name,city\r\nada@example.com,Ada,"London, UK"\r\nbad-address,X,Y\r\nADA@example.com,A,B\r\n'
    response = await client.post(
        f"/campaigns/{cid}/recipients", content=csv_body.encode(), headers=auth() | {"Content-Type": "text/csv"}
    )
    assert response.json() == {"accepted": 1, "invalid": 1, "duplicates": 1, "total": 3}
    key = f"recipients/acme/{cid}/part-00001.jsonl"
    body = await (await aws.require_s3().get_object(Bucket=campaign_settings.resources.bucket, Key=key))["Body"].read()
    assert json.loads(body) == {"email": "ada@example.com", "data": {"first_name": "Ada", "city": "London, UK"}}


async def test_upload_errors_leave_the_campaign_unchanged(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(2)))["campaignId"]
    url = f"/campaigns/{cid}/recipients"
    # Malformed after more than a part's worth of good items: the parts written so far are removed.
    broken = json.dumps({"recipients": recipients(9, start=10)})[:-3].encode()
    response = await client.post(url, content=broken, headers=auth() | {"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (422, "ValidationError")
    assert await _s3_parts(aws, campaign_settings, cid) == [["user0@example.com", "user1@example.com"]]
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json()["counts"]["accepted"] == 2

    wrong_type = await client.post(url, content=b"x", headers=auth() | {"Content-Type": "application/xml"})
    assert (wrong_type.status_code, wrong_type.json()["error"]) == (415, "UnsupportedMediaType")
    viewer = await client.post(url, json={"recipients": []}, headers=auth(role="viewer"))
    assert viewer.status_code == 403
    other = await client.post(url, json={"recipients": ["a@example.com"]}, headers=auth("globex"))
    assert other.status_code == 404
    assert (await client.post(f"/campaigns/{cid}/cancel", headers=auth())).status_code == 202
    closed = await client.post(url, json={"recipients": ["a@example.com"]}, headers=auth())
    assert (closed.status_code, closed.json()["error"]) == (409, "CampaignNotDraft")


async def test_the_sample_recipient_is_the_first_stored_one(client: httpx.AsyncClient, auth: Tokens) -> None:
    empty = (await create_campaign(client, auth()))["campaignId"]
    cid = (
        await create_campaign(
            client,
            auth(),
            recipients=[{"email": "Grace@Example.com", "data": {"first_name": "Grace"}}, {"email": "bob@example.com"}],
        )
    )["campaignId"]
    sample = await client.get(f"/campaigns/{cid}/sample-recipient", headers=auth(role="viewer"))
    none_yet = await client.get(f"/campaigns/{empty}/sample-recipient", headers=auth(role="viewer"))
    other_tenant = await client.get(f"/campaigns/{cid}/sample-recipient", headers=auth("globex", "admin"))
    assert sample.json() == {"email": "Grace@example.com", "data": {"first_name": "Grace"}}
    assert none_yet.json() == {"email": None, "data": {}}
    assert (other_tenant.status_code, other_tenant.json()["error"]) == (404, "CampaignNotFound")
