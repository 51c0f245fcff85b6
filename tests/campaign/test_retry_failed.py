"""POST /campaigns/{id}/retry-failed: which failures are retried (a pure rule) and what a call does to the ledger,
the campaign's counters and status, and the email-jobs queue (against the emulator). The ledger entries are written
here as the processor writes them (docs/architecture.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from herald_campaign.campaigns.rules import is_retryable_failure, retry_batch_id
from tests.campaign.conftest import create_campaign, drain_jobs, recipients, wait_for_fanouts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients
    from tests.campaign.conftest import Tokens

pytestmark = pytest.mark.timeout(60)


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
