"""Sending: the SPEC's errors, exactly one winner of concurrent sends, and the queued batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.campaign.conftest import create_campaign, drain_jobs, recipients, wait_for_fanouts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients
    from tests.campaign.conftest import FakeTemplates, Tokens


async def _draft(client: httpx.AsyncClient, auth: Tokens, n: int = 3, **fields: Any) -> str:
    created = await create_campaign(client, auth(), recipients=recipients(n), **fields)
    return str(created["campaignId"])


async def test_send_queues_batches_in_the_documented_shape(
    client: httpx.AsyncClient, app: FastAPI, auth: Tokens, aws: AwsClients, campaign_settings: Settings,
    templates: FakeTemplates,
) -> None:  # fmt: skip
    cid = await _draft(client, auth, 120)
    headers = auth()
    body = {"campaignId": cid, "sendAt": "immediate", "throttle": {"emailsPerMinute": 100, "emailsPerHour": 1000}}
    response = await client.post(f"/campaigns/{cid}/send", json=body | {"priority": "high"}, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"campaignId": cid, "status": "sending"}
    assert templates.authorizations[-1] == headers["Authorization"]

    await wait_for_fanouts(app)
    jobs = await drain_jobs(aws, campaign_settings)
    assert [j["batchId"] for j in jobs] == ["batch_000001", "batch_000002", "batch_000003"]
    assert [len(j["recipients"]) for j in jobs] == [50, 50, 20]
    # A high-priority campaign's batches go to the high queue only.
    assert {j.pop("_queue") for j in jobs} == {campaign_settings.resources.email_jobs_queue_for("high")}
    for job in jobs:
        assert set(job) == {
            "campaignId",
            "tenantId",
            "batchId",
            "recipients",
            "templateId",
            "templateVersion",
            "priority",
        }
        assert (job["campaignId"], job["tenantId"], job["templateId"]) == (cid, "acme", "newsletter")
        assert (job["templateVersion"], job["priority"]) == (3, "high")
    emails = [r["email"] for j in jobs for r in j["recipients"]]
    assert emails == [f"user{i}@example.com" for i in range(120)]
    assert jobs[0]["recipients"][7] == {"email": "user7@example.com", "data": {"n": 7}}

    view = (await client.get(f"/campaigns/{cid}", headers=headers)).json()
    assert (view["status"], view["templateVersion"], view["priority"]) == ("sending", 3, "high")
    assert view["throttle"] == {"emailsPerMinute": 100, "emailsPerHour": 1000}
    key = {"tenantId": {"S": "acme"}, "campaignId": {"S": cid}}
    row = (await aws.require_dynamodb().get_item(TableName=campaign_settings.resources.campaigns_table, Key=key))[
        "Item"
    ]
    assert row["batchCount"] == {"N": "3"}
    assert row["fanoutDone"] == {"BOOL": True}
    assert row["batchSize"] == {"N": "50"}


async def test_two_concurrent_sends_have_one_winner(
    client: httpx.AsyncClient, app: FastAPI, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = await _draft(client, auth, 60)
    first, second = await asyncio.gather(
        client.post(f"/campaigns/{cid}/send", json={"sendAt": "immediate"}, headers=auth()),
        client.post(f"/campaigns/{cid}/send", json={"sendAt": "immediate"}, headers=auth()),
    )
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"] == "CampaignAlreadySending"
    await wait_for_fanouts(app)
    assert len(await drain_jobs(aws, campaign_settings)) == 2  # one fan-out only


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"throttle": {"emailsPerMinute": 0}}, "throttle"),
        ({"throttle": {"emailsPerMinute": 100, "emailsPerHour": 10}}, "throttle"),
        ({"sendAt": "2001-01-01T00:00:00Z"}, "sendAt"),
        ({"sendAt": "next tuesday"}, "sendAt"),
        ({"priority": "urgent"}, "priority"),
    ],
)
async def test_malformed_send_bodies_answer_422(
    client: httpx.AsyncClient, auth: Tokens, body: dict[str, Any], field: str
) -> None:
    cid = await _draft(client, auth)
    response = await client.post(f"/campaigns/{cid}/send", json=body, headers=auth())
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json()["status"] == "draft"


async def test_send_errors(client: httpx.AsyncClient, auth: Tokens, templates: FakeTemplates) -> None:
    send = {"sendAt": "immediate"}

    async def post(cid: str, body: dict[str, Any] = send, role: str = "marketer") -> tuple[int, str]:
        r = await client.post(f"/campaigns/{cid}/send", json=body, headers=auth(role=role))
        return r.status_code, r.json().get("error", "") if r.status_code >= 400 else ""

    assert await post("camp_00000000000000000000") == (404, "CampaignNotFound")
    empty = (await create_campaign(client, auth()))["campaignId"]
    assert await post(empty) == (400, "NoRecipients")
    cid = await _draft(client, auth)
    assert await post(cid, role="viewer") == (403, "Forbidden")
    assert await post(cid, {"campaignId": "camp_11111111111111111111"}) == (400, "CampaignIdMismatch")
    other_tenant = await client.post(f"/campaigns/{cid}/send", json=send, headers=auth("globex"))
    assert other_tenant.status_code == 404
    no_template = await _draft(client, auth, templateId="missing")
    assert await post(no_template) == (400, "TemplateNotFound")
    cancelled = await _draft(client, auth)
    assert (await client.post(f"/campaigns/{cancelled}/cancel", headers=auth())).status_code == 202
    assert await post(cancelled) == (400, "CampaignNotSendable")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.post(f"/campaigns/{cid}/send", json={"sendAt": later}, headers=auth())).json() == {
        "campaignId": cid,
        "status": "scheduled",
    }
    assert await post(cid) == (409, "CampaignAlreadyScheduled")
    templates.versions["newsletter"] = 4  # a sent campaign keeps the version it was pinned to
    assert (await client.get(f"/campaigns/{cid}", headers=auth())).json()["templateVersion"] == 3


async def test_a_scheduled_campaign_is_sent_when_due(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings, app: FastAPI
) -> None:
    cid = await _draft(client, auth, 5)
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    response = await client.post(f"/campaigns/{cid}/send", json={"sendAt": soon}, headers=auth())
    assert response.json()["status"] == "scheduled"
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["sendAt"].startswith(soon[:19])
    for _ in range(300):  # 30 s: only to end a hung test
        await asyncio.sleep(0.1)
        if (await client.get(f"/campaigns/{cid}", headers=auth())).json()["status"] == "sending":
            break
    else:
        pytest.fail("the scheduler did not start the campaign")
    # The scheduler announces the move (campaign.status) between its claim and the fan-out's start: the fan-out
    # task may not exist yet when the status reads `sending`.
    jobs: list[dict[str, Any]] = []
    for _ in range(300):
        await wait_for_fanouts(app)
        jobs += await drain_jobs(aws, campaign_settings)
        if jobs:
            break
        await asyncio.sleep(0.1)
    assert [(j["batchId"], len(j["recipients"])) for j in jobs] == [("batch_000001", 5)]


async def test_an_abandoned_fanout_resumes_where_it_stopped(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings, app: FastAPI
) -> None:
    cid = await _draft(client, auth, 120)
    assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    await drain_jobs(aws, campaign_settings)
    # As if the instance fanning out died after queueing two batches: its lease has run out.
    table = campaign_settings.resources.campaigns_table
    key = {"tenantId": {"S": "acme"}, "campaignId": {"S": cid}}
    await aws.require_dynamodb().update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET fanoutDone = :f, fanoutQueued = :q, fanoutLeaseUntil = :l, fanoutOwner = :o",
        ExpressionAttributeValues={":f": {"BOOL": False}, ":q": {"N": "2"}, ":l": {"N": "1"}, ":o": {"S": "dead"}},
    )
    # The app's scheduler loop (every 0.2 s here) notices the expired lease and takes the fan-out over.
    for _ in range(50):
        row = (await aws.require_dynamodb().get_item(TableName=table, Key=key))["Item"]
        if row["fanoutDone"] == {"BOOL": True}:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the abandoned fan-out was not resumed")
    await wait_for_fanouts(app)
    jobs = await drain_jobs(aws, campaign_settings)
    assert [(j["batchId"], len(j["recipients"])) for j in jobs] == [("batch_000003", 20)]
    assert jobs[0]["recipients"][0]["email"] == "user100@example.com"
    assert await app.state.scheduler.tick() == 0  # done now: nothing more to resume
