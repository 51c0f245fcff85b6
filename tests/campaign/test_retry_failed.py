"""POST /campaigns/{id}/retry-failed: which failures are retried (a pure rule) and what a call does to the ledger,
the campaign's counters and status, and the email-jobs queue (against the emulator). The ledger entries are written
here as the processor writes them (docs/architecture.md)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from herald_campaign.campaigns.ledger import DynamoLedger
from herald_campaign.campaigns.retry_store import DynamoRetryStore
from herald_campaign.campaigns.rules import RETRYABLE_STATUSES, is_retryable_failure, retry_batch_id
from tests.campaign.conftest import create_campaign, drain_jobs, recipients, wait_for_fanouts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients
    from tests.campaign.conftest import Tokens

pytestmark = pytest.mark.timeout(60)
FAR = 2**40  # a lease that does not run out during a test


@pytest.mark.parametrize(
    ("reason", "retryable"),
    [
        ("render_error", True),
        ("template_not_found", True),
        ("soft_bounce", True),
        ("Throttling: Maximum sending rate exceeded.", True),
        ("TooManyRequestsException: slow down", True),
        ("AccountSendingPausedException: paused", True),
        ("MessageRejected: Email address is not verified.", False),
        ("MailFromDomainNotVerifiedException: no", False),
        ("invalid_header", False),
        ("bounce", False),
        ("complaint", False),
        ("suppressed", False),
        ("invalid", False),
        ("campaign_cancelled", False),
        ("", False),
        (None, False),
    ],
)
def test_which_failures_are_retried(reason: str | None, retryable: bool) -> None:
    assert is_retryable_failure(reason) is retryable


def test_retry_batch_ids_are_deterministic_and_distinct_per_call() -> None:
    assert retry_batch_id(1, 1) == "retry_1_000001"
    assert retry_batch_id(2, 13) == "retry_2_000013"
    assert retry_batch_id(1, 1) != retry_batch_id(2, 1)


# email -> (state, reason, counted), as the processor leaves them.
OUTCOMES: dict[str, tuple[str, str | None, bool]] = {
    "user0@example.com": ("sent", None, True),
    "user1@example.com": ("failed", "render_error", True),
    "user2@example.com": ("failed", "MessageRejected: Email address is not verified.", True),
    "user3@example.com": ("failed", "template_not_found", False),  # final, not counted yet (a crashed attempt)
    "user4@example.com": ("suppressed", "bounce", True),
    "user5@example.com": ("failed", "Throttling: Maximum sending rate exceeded.", True),
    "user6@example.com": ("invalid", "invalid_address", True),
}


async def _finish_like_the_processor(aws: AwsClients, settings: Settings, cid: str, status: str) -> None:
    db = aws.require_dynamodb()
    for email, (state, reason, counted) in OUTCOMES.items():
        item: dict[str, Any] = {
            "campaignKey": {"S": f"acme#{cid}"},
            "email": {"S": email},
            "state": {"S": state},
            "batchId": {"S": "batch_000001"},
            "attempt": {"N": "1"},
        }
        if reason:
            item["reason"] = {"S": reason}
        if counted:
            item["counted"] = {"BOOL": True}
        await db.put_item(TableName=settings.resources.ledger_table, Item=item)
    counted = [o for o in OUTCOMES.values() if o[2]]
    await db.update_item(
        TableName=settings.resources.campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": cid}},
        UpdateExpression="SET #s = :status ADD finalCount :final, failedCount :failed, sentCount :sent",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":status": {"S": status},
            ":final": {"N": str(len(counted))},
            ":failed": {"N": str(sum(1 for o in counted if o[0] == "failed"))},
            ":sent": {"N": "1"},
        },
    )


async def _ledger(aws: AwsClients, settings: Settings, cid: str) -> dict[str, dict[str, Any]]:
    response = await aws.require_dynamodb().query(
        TableName=settings.resources.ledger_table,
        KeyConditionExpression="campaignKey = :k",
        ExpressionAttributeValues={":k": {"S": f"acme#{cid}"}},
    )
    return {i["email"]["S"]: i for i in response["Items"]}


async def test_retry_requeues_retryable_failures_once_per_call(
    client: httpx.AsyncClient, auth: Tokens, app: FastAPI, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(len(OUTCOMES))))["campaignId"]
    assert (await client.post(f"/campaigns/{cid}/send", json={"priority": "high"}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    await drain_jobs(aws, campaign_settings)
    await _finish_like_the_processor(aws, campaign_settings, cid, status="sent")
    before = (await client.get(f"/campaigns/{cid}", headers=auth())).json()["counts"]
    assert (before["final"], before["failed"]) == (6, 3)

    response = await client.post(f"/campaigns/{cid}/retry-failed", headers=auth())
    assert response.status_code == 202, response.text
    assert response.json() == {"campaignId": cid, "status": "sending", "retry": 1, "requeued": 3, "batches": 1}

    ledger = await _ledger(aws, campaign_settings, cid)
    retried = {"user1@example.com", "user3@example.com", "user5@example.com"}
    for email, item in ledger.items():
        if email in retried:
            assert item["state"]["S"] == "pending", email
            assert "counted" not in item, email
            assert "reason" not in item, email
        else:
            assert item["state"]["S"] == OUTCOMES[email][0], email
            assert ("counted" in item) is OUTCOMES[email][2], email
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["status"] == "sending"
    # Only the two counted retries leave the counters (the uncounted one was never in them).
    assert (view["counts"]["final"], view["counts"]["failed"], view["counts"]["sent"]) == (4, 1, 1)

    (job,) = await drain_jobs(aws, campaign_settings)
    assert job["batchId"] == "retry_1_000001"
    assert (job["priority"], job["templateVersion"], job["tenantId"]) == ("high", 3, "acme")
    assert job["_queue"] == campaign_settings.resources.email_jobs_queue_for("high")
    assert [r["email"] for r in job["recipients"]] == sorted(retried)
    assert job["recipients"][0]["data"] == {"n": 1}

    # A second call finds nothing failed any more: nothing is queued twice.
    again = await client.post(f"/campaigns/{cid}/retry-failed", headers=auth())
    assert again.json() == {"campaignId": cid, "status": "sending", "retry": 2, "requeued": 0, "batches": 0}
    assert await drain_jobs(aws, campaign_settings) == []


async def test_retry_refuses_campaigns_never_sent_and_other_tenants(client: httpx.AsyncClient, auth: Tokens) -> None:
    cid = (await create_campaign(client, auth(), recipients=recipients(1)))["campaignId"]
    draft = await client.post(f"/campaigns/{cid}/retry-failed", headers=auth())
    assert (draft.status_code, draft.json()["error"]) == (409, "CampaignNotRetryable")
    assert (await client.post(f"/campaigns/{cid}/retry-failed", headers=auth("globex"))).status_code == 404
    assert (await client.post(f"/campaigns/{cid}/retry-failed", headers=auth(role="viewer"))).status_code == 403
    assert (await client.post(f"/campaigns/{cid}/cancel", headers=auth())).status_code == 202
    cancelled = await client.post(f"/campaigns/{cid}/retry-failed", headers=auth())
    assert cancelled.status_code == 409


async def _sent_with_failures(
    client: httpx.AsyncClient, auth: Tokens, app: FastAPI, aws: AwsClients, settings: Settings
) -> str:
    cid: str = (await create_campaign(client, auth(), recipients=recipients(len(OUTCOMES))))["campaignId"]
    assert (await client.post(f"/campaigns/{cid}/send", json={"priority": "low"}, headers=auth())).status_code == 202
    await wait_for_fanouts(app)
    await drain_jobs(aws, settings)
    await _finish_like_the_processor(aws, settings, cid, status="sent")
    return cid


async def _campaign_row(aws: AwsClients, settings: Settings, cid: str) -> dict[str, Any]:
    key = {"tenantId": {"S": "acme"}, "campaignId": {"S": cid}}
    row: dict[str, Any] = (
        await aws.require_dynamodb().get_item(
            TableName=settings.resources.campaigns_table, Key=key, ConsistentRead=True
        )
    )["Item"]
    return row


async def test_a_retry_whose_instance_died_after_the_reset_is_finished_by_the_scheduler(
    client: httpx.AsyncClient, auth: Tokens, app: FastAPI, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = await _sent_with_failures(client, auth, app, aws, campaign_settings)
    # What an instance that died between the two steps leaves behind: the run recorded, the ledger reset (and
    # marked), nothing queued, its lease running out.
    names = campaign_settings.resources
    store = DynamoRetryStore(aws.require_dynamodb(), names.campaigns_table)
    run = await store.start("acme", cid, allowed=RETRYABLE_STATUSES, owner="dead", lease_until=FAR, now="2030")
    assert run is not None
    assert run.call == 1
    assert run.queued is None
    ledger = DynamoLedger(aws.require_dynamodb(), names.ledger_table, names.campaigns_table)
    failed = [entry async for entry in ledger.failed("acme", cid) if is_retryable_failure(entry[1])]
    assert len(await ledger.reset("acme", cid, failed, call=1, now="2030")) == 3
    # While the run stands, another call is refused rather than run next to it.
    busy = await client.post(f"/campaigns/{cid}/retry-failed", headers=auth())
    assert (busy.status_code, busy.json()["error"]) == (409, "RetryInProgress")
    assert await store.heartbeat(run, owner="dead", queued=None, lease_until=1)  # then its lease runs out

    # The app's scheduler (every 0.2 s here) takes the run over and finishes it.
    for _ in range(100):
        if "retryRun" not in await _campaign_row(aws, campaign_settings, cid):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the abandoned retry was not resumed")
    await asyncio.gather(*app.state.retries.tasks)
    (job,) = await drain_jobs(aws, campaign_settings)
    assert job["batchId"] == "retry_1_000001"
    assert job["_queue"] == names.email_jobs_queue_for("low")
    assert [r["email"] for r in job["recipients"]] == ["user1@example.com", "user3@example.com", "user5@example.com"]
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["status"] == "sending"
    assert (view["counts"]["final"], view["counts"]["failed"]) == (4, 1)
    # The next call is call 2 and finds nothing left to retry.
    again = await client.post(f"/campaigns/{cid}/retry-failed", headers=auth())
    assert again.json() | {"status": None} == {
        "campaignId": cid, "status": None, "retry": 2, "requeued": 0, "batches": 0,
    }  # fmt: skip


async def test_a_resumed_retry_queues_only_the_batches_after_its_checkpoint(
    client: httpx.AsyncClient, auth: Tokens, app: FastAPI, aws: AwsClients, campaign_settings: Settings
) -> None:
    cid = await _sent_with_failures(client, auth, app, aws, campaign_settings)
    db = aws.require_dynamodb()
    names = campaign_settings.resources
    # Batches of one recipient: the retried three make three batches.
    await db.update_item(
        TableName=names.campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": cid}},
        UpdateExpression="SET batchSize = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    store = DynamoRetryStore(db, names.campaigns_table)
    run = await store.start("acme", cid, allowed=RETRYABLE_STATUSES, owner="dead", lease_until=FAR, now="2030")
    assert run is not None
    ledger = DynamoLedger(db, names.ledger_table, names.campaigns_table)
    failed = [entry async for entry in ledger.failed("acme", cid) if is_retryable_failure(entry[1])]
    await ledger.reset("acme", cid, failed, call=1, now="2030")
    # It died after queueing (and checkpointing) the first batch.
    assert await store.heartbeat(run, owner="dead", queued=1, lease_until=1)

    for _ in range(100):
        if "retryRun" not in await _campaign_row(aws, campaign_settings, cid):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the abandoned retry was not resumed")
    await asyncio.gather(*app.state.retries.tasks)
    jobs = await drain_jobs(aws, campaign_settings)
    assert [(j["batchId"], [r["email"] for r in j["recipients"]]) for j in jobs] == [
        ("retry_1_000002", ["user3@example.com"]),
        ("retry_1_000003", ["user5@example.com"]),
    ]
