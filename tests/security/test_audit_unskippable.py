"""An audit record can't be skipped: a caller's `X-Request-Id` is kept only when it is at most 128 characters of
`[A-Za-z0-9._-]` (otherwise Herald makes one), every caller-influenced field of a record is bounded, a record DynamoDB
refuses waits in a bounded spool and reaches `GET /audit` once the table answers, a full spool refuses audited calls
before they run (503), and no log line carries more than a few KB of caller input."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

import pytest

from herald_common.audit import AuditRecord
from herald_common.provisioning import provision
from herald_common.request_ids import accept_request_id
from tests.common.log_capture import json_logs
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign

if TYPE_CHECKING:
    import httpx

    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(90)

GENERATED = re.compile(r"[0-9a-f]{32}")
MAX_LOG_LINE = 8 * 1024


async def _records(client: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    page = await client.get("/audit", params=query, headers=headers)
    assert page.status_code == 200, page.text
    records: list[dict[str, Any]] = page.json()["records"]
    return records


@pytest.mark.parametrize("offered", ["req-1", "A.b_c-9", "x" * 128])
def test_a_short_plain_request_id_is_kept(offered: str) -> None:
    assert accept_request_id(offered) == offered


@pytest.mark.parametrize(
    "offered", [None, "", "x" * 129, "a b", "caf\u00e9", "id;drop", "a/b", "a\x00", '{"json":1}', "x" * 420_000]
)
def test_anything_else_is_replaced_by_a_generated_id(offered: str | None) -> None:
    assert GENERATED.fullmatch(accept_request_id(offered))


async def test_a_huge_request_id_on_send_is_replaced_and_the_send_is_audited(herald_settings: HeraldSettings) -> None:
    """The issue's reproduction: 420,000 characters of X-Request-Id on POST /campaigns/{id}/send."""
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    huge = "A" * 420_000
    async with campaign_service(settings) as (_, client):
        cid = (await new_campaign(client, marketer, recipients=[{"email": "r@example.org"}]))["campaignId"]
        with json_logs() as logs:
            sent = await client.post(f"/campaigns/{cid}/send", json={}, headers=marketer | {"X-Request-Id": huge})
        assert sent.status_code == 202, sent.text
        request_id = sent.headers["x-request-id"]
        assert GENERATED.fullmatch(request_id)
        (record,) = await _records(client, admin, action="campaign.send")
        assert (record["target"], record["status"], record["requestId"]) == (cid, 202, request_id)
    assert logs.lines
    assert max(len(line) for line in logs.lines) < MAX_LOG_LINE
    assert "A" * 1000 not in logs.buffer.getvalue()


async def test_a_plain_request_id_is_echoed_and_recorded(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    async with campaign_service(settings) as (_, client):
        created = await client.post(
            "/campaigns",
            json={"name": "S", "templateId": "newsletter", "fromAddress": "news@example.com"},
            headers=marketer | {"X-Request-Id": "trace.42_a-b"},
        )
        assert created.headers["x-request-id"] == "trace.42_a-b"
        (record,) = await _records(client, admin)
        assert record["requestId"] == "trace.42_a-b"


def test_every_caller_influenced_field_of_a_record_is_bounded() -> None:
    record = AuditRecord(
        tenant_id="acme",
        actor="s" * 100_000,
        action="campaign.send",
        target="t" * 500_000,
        request_id="r" * 500_000,
        outcome="failed",
        status=400,
        error="e" * 500_000,
        details={"big": "d" * 500_000},
    )
    item = record.item()
    assert sum(len(str(v)) for v in item.values()) < 8 * 1024  # DynamoDB's limit is 400 KB
    assert item["details"]["S"] == '{"truncated":true}'


async def test_a_record_dynamodb_refuses_waits_and_reaches_get_audit(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    settings = campaign_settings(herald_settings, audit_flush_seconds=0.2)
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    dynamodb = aws.require_dynamodb()
    async with campaign_service(settings) as (app, client):
        cid = (await new_campaign(client, marketer))["campaignId"]
        await dynamodb.delete_table(TableName=settings.resources.audit_table)  # every audit write now fails
        cancelled = await client.post(f"/campaigns/{cid}/cancel", headers=marketer)
        assert cancelled.status_code == 202  # the call happened: its answer stands
        assert app.state.audit_log.pending == 1
        await provision(settings)  # the table is back (empty): the spool drains into it on its own
        deadline = time.monotonic() + 20
        while app.state.audit_log.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        (record,) = await _records(client, admin, action="campaign.cancel")
        assert (record["target"], record["status"], record["requestId"]) == (
            cid,
            202,
            cancelled.headers["x-request-id"],
        )


async def test_a_full_spool_refuses_audited_calls_before_they_run(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    settings = campaign_settings(herald_settings, audit_spool_size=1, audit_flush_seconds=3600)
    marketer = bearer(settings)
    body = {"name": "S", "templateId": "newsletter", "fromAddress": "news@example.com"}
    async with campaign_service(settings) as (app, client):
        cid = (await new_campaign(client, marketer))["campaignId"]
        await aws.require_dynamodb().delete_table(TableName=settings.resources.audit_table)
        assert (await client.post(f"/campaigns/{cid}/cancel", headers=marketer)).status_code == 202  # spooled
        refused = await client.post("/campaigns", json=body, headers=marketer)
        assert refused.status_code == 503
        assert refused.json()["error"] == "AuditUnavailable"
        listed = (await client.get("/campaigns", headers=marketer)).json()["campaigns"]
        assert [c["campaignId"] for c in listed] == [cid]  # nothing ran
        await provision(settings)
        assert await app.state.audit_log.flush() == 0
        assert (await client.post("/campaigns", json=body, headers=marketer)).status_code == 201
