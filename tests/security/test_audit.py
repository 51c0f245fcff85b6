"""The audit trail, against the emulator: every state-changing call — succeeded or failed — appends one record
(actor, tenant, action, target, time, request id, outcome) that `GET /audit` (admin) lists for that tenant only, and
no route can change or remove."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_common.audit import AuditLog, AuditRecord
from herald_common.auth import mint_token
from herald_common.unsubscribe import UnsubscribeTarget, make_token
from herald_template.app import create_app as create_template
from herald_template.config import Settings as TemplateSettings
from tests.campaign.conftest import wait_for_fanouts
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(90)


async def _all_records(client: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    token = None
    while True:
        params = {k: v for k, v in (query | {"nextToken": token}).items() if v is not None}
        page = await client.get("/audit", params=params, headers=headers)
        assert page.status_code == 200, page.text
        records += page.json()["records"]
        token = page.json()["nextToken"]
        if token is None:
            return records


async def test_every_state_changing_call_is_recorded_with_who_what_when_and_outcome(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings, "acme", "marketer"), bearer(settings, "acme", "admin")
    viewer = bearer(settings, "acme", "viewer")
    expected: list[tuple[str, str | None, str, int, str | None]] = []  # action, target, actor, status, request id

    async with campaign_service(settings) as (app, client):

        def expect(answer: httpx.Response, action: str, target: str | None, actor: str) -> None:
            expected.append((action, target, actor, answer.status_code, answer.headers["x-request-id"]))

        created = await client.post(
            "/campaigns",
            json={"name": "Spring", "templateId": "newsletter", "fromAddress": "news@example.com"},
            headers=marketer,
        )
        cid = created.json()["campaignId"]
        expect(created, "campaign.create", cid, "marketer@acme")
        expect(await client.patch(f"/campaigns/{cid}", json={"name": "Spring!"}, headers=marketer),
               "campaign.update", cid, "marketer@acme")  # fmt: skip
        expect(await client.post(f"/campaigns/{cid}/recipients", json={"recipients": [{"email": "a@example.com"}]},
                                 headers=marketer), "campaign.recipients", cid, "marketer@acme")  # fmt: skip
        expect(await client.post(f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"]},
                                 headers=marketer), "campaign.test_send", cid, "marketer@acme")  # fmt: skip
        # failures are recorded too: a viewer may not send; a draft cannot be paused
        refused = await client.post(f"/campaigns/{cid}/send", json={}, headers=viewer)
        assert refused.status_code == 403
        expect(refused, "campaign.send", cid, "viewer@acme")
        expect(await client.post(f"/campaigns/{cid}/pause", headers=marketer), "campaign.pause", cid, "marketer@acme")
        expect(await client.post(f"/campaigns/{cid}/send", json={}, headers=marketer),
               "campaign.send", cid, "marketer@acme")  # fmt: skip
        await wait_for_fanouts(app)
        for action in ("pause", "resume", "cancel", "retry-failed"):
            expect(await client.post(f"/campaigns/{cid}/{action}", headers=marketer),
                   f"campaign.{action.replace('-', '_')}", cid, "marketer@acme")  # fmt: skip
        second = await client.post("/campaigns", json=created.json() | {"campaignId": None}, headers=marketer)
        assert second.status_code == 422  # a body that does not validate is a failed call, recorded as well
        expect(second, "campaign.create", None, "marketer@acme")
        other_created = await client.post(
            "/campaigns",
            json={"name": "x", "templateId": "newsletter", "fromAddress": "n@example.com"},
            headers=marketer,
        )
        other = other_created.json()["campaignId"]
        expect(other_created, "campaign.create", other, "marketer@acme")
        expect(await client.delete(f"/campaigns/{other}", headers=marketer), "campaign.delete", other, "marketer@acme")
        expect(await client.post("/suppressions", json={"email": "b@example.com"}, headers=admin),
               "suppression.add", "b@example.com", "admin@acme")  # fmt: skip
        expect(await client.delete("/suppressions/b@example.com", headers=admin),
               "suppression.remove", "b@example.com", "admin@acme")  # fmt: skip
        token = make_token(settings.unsubscribe_secret, UnsubscribeTarget("acme", cid, "a@example.com"))
        expect(await client.post(f"/u/{token}"), "suppression.unsubscribe", "a@example.com", "unsubscribe-link")
        # reads are not recorded
        await client.get(f"/campaigns/{cid}", headers=marketer)
        await client.get("/suppressions", headers=admin)

        records = await _all_records(client, admin)

    assert [s for *_, s, _ in expected][:6] == [201, 200, 200, 202, 403, 409]
    got = [(r["action"], r["target"], r["actor"], r["status"], r["requestId"]) for r in reversed(records)]
    assert got == expected  # newest first, one record per call, each with the id of its own request
    assert {r["outcome"] for r in records if r["status"] < 400} == {"succeeded"}
    failed = [r for r in records if r["status"] >= 400]
    assert {(r["action"], r["error"], r["outcome"]) for r in failed} == {
        ("campaign.send", "Forbidden", "failed"),
        ("campaign.pause", "InvalidTransition", "failed"),
        ("campaign.create", "ValidationError", "failed"),
        ("campaign.retry_failed", "CampaignNotRetryable", "failed"),  # after the cancel
    }
    assert records[-1]["details"] == {"name": "Spring"}
    times = [r["time"] for r in records]
    assert times == sorted(times, reverse=True)
    assert all(t.endswith("Z") for t in times)

    # Stored as docs/architecture.md says: pk the tenant, sk starting with the time.
    stored = await aws.require_dynamodb().query(
        TableName=settings.resources.audit_table,
        KeyConditionExpression="tenantId = :t",
        ExpressionAttributeValues={":t": {"S": "acme"}},
    )
    items = stored["Items"]
    assert len(items) == len(expected)
    assert all(i["recordId"]["S"].startswith(i["time"]["S"] + "#") for i in items)


async def test_a_tenant_sees_only_its_own_records_and_only_an_admin_sees_them(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    async with campaign_service(settings) as (_, client):
        acme = await new_campaign(client, bearer(settings, "acme"))
        # globex probing acme's campaign: a 404, filed under globex (the prober), never under acme
        probe = await client.post(f"/campaigns/{acme['campaignId']}/cancel", headers=bearer(settings, "globex"))
        assert probe.status_code == 404
        globex = await _all_records(client, bearer(settings, "globex", "admin"))
        assert [(r["action"], r["target"], r["error"]) for r in globex] == [
            ("campaign.cancel", acme["campaignId"], "CampaignNotFound")
        ]
        acme_records = await _all_records(client, bearer(settings, "acme", "admin"))
        assert [r["action"] for r in acme_records] == ["campaign.create"]
        for role in ("viewer", "marketer"):
            denied = await client.get("/audit", headers=bearer(settings, "acme", role))
            assert denied.status_code == 403
        assert (await client.get("/audit")).status_code == 401


async def test_no_route_can_change_or_remove_a_record(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    admin = bearer(settings, "acme", "admin")
    async with campaign_service(settings) as (app, client):
        await new_campaign(client, bearer(settings, "acme"))
        (record,) = await _all_records(client, admin)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for path in ("/audit", f"/audit/{record['recordId']}"):
                answer = await client.request(method, path, json={"action": "nothing"}, headers=admin)
                assert answer.status_code in (404, 405), (method, path, answer.status_code)
        assert await _all_records(client, admin) == [record]
        audit_paths = {p: set(ops) for p, ops in app.openapi()["paths"].items() if p.startswith("/audit")}
        assert audit_paths == {"/audit": {"get"}}


async def test_pages_and_filters(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings), bearer(settings, "acme", "admin")
    async with campaign_service(settings) as (_, client):
        ids = [(await new_campaign(client, marketer))["campaignId"] for _ in range(3)]
        for cid in ids:
            await client.post(f"/campaigns/{cid}/cancel", headers=marketer)
        first = await client.get("/audit", params={"limit": 2}, headers=admin)
        assert len(first.json()["records"]) == 2
        assert first.json()["nextToken"]
        everything = await _all_records(client, admin, limit=2)
        assert len(everything) == 6
        assert len({r["recordId"] for r in everything}) == 6
        cancels = await _all_records(client, admin, action="campaign.cancel")
        assert [r["target"] for r in cancels] == list(reversed(ids))
        one = await _all_records(client, admin, target=ids[1])
        assert [r["action"] for r in one] == ["campaign.cancel", "campaign.create"]
        middle = everything[2]["time"]
        assert [r["recordId"] for r in await _all_records(client, admin, until=middle)] == [
            r["recordId"] for r in everything[2:]
        ]
        assert [r["recordId"] for r in await _all_records(client, admin, since=middle)] == [
            r["recordId"] for r in everything[:3]
        ]
        other_token = await client.get("/audit", params={"limit": 1}, headers=bearer(settings, "globex", "admin"))
        assert other_token.json()["nextToken"] is None
        forged = await client.get("/audit", params={"nextToken": first.json()["nextToken"]},
                                  headers=bearer(settings, "globex", "admin"))  # fmt: skip
        assert forged.status_code == 400  # a token minted for acme is refused for globex


async def test_template_saves_are_recorded_by_the_template_service(herald_settings: HeraldSettings) -> None:
    template_settings = TemplateSettings(
        resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=herald_settings.aws_endpoint_url
    )
    tenant = "t" + secrets.token_hex(4)
    token = mint_token(template_settings, tenant_id=tenant, roles=["marketer"], subject="ada")
    app = create_template(template_settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as t:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            saved = await t.put("/templates/news", json={"subject": "Hi", "html": "<p>x</p>"}, headers=headers)
            assert saved.status_code in (200, 201)
        bad = await t.put("/templates/news", json={"subject": "Hi", "html": "{% for %}"}, headers=headers)
        assert bad.status_code == 422
    settings = campaign_settings(herald_settings)
    async with campaign_service(settings) as (_, client):
        records = await _all_records(client, bearer(settings, tenant, "admin"))
    assert [(r["action"], r["target"], r["actor"], r["outcome"], r["details"]) for r in records] == [
        ("template.save", "news", "ada", "failed", {}),
        ("template.save", "news", "ada", "succeeded", {"version": 2}),
        ("template.save", "news", "ada", "succeeded", {"version": 1}),
    ]
    assert records[0]["error"] == "InvalidTemplate"


async def test_a_failed_audit_write_never_undoes_the_answered_call(aws: AwsClients) -> None:
    log = AuditLog(aws.require_dynamodb(), "no-such-audit-table")
    record = AuditRecord("acme", "ada", "campaign.send", "camp_x", "req-1", "succeeded", 202)
    assert await log.append(record) is False
