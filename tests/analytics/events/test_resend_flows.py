"""SES events that settle the processor's state, through SNS → SQS → the consumer, against the emulator:
in-doubt reconciliation from Send events, soft-bounce retries, the reputation guard, machine opens."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from herald_analytics.config import Settings
from herald_analytics.stats.schemas import compute_stats

pytestmark = pytest.mark.timeout(60)

CAMPAIGN = "camp_0123456789abcdefghij"
ADA, BOB, CY, DEE = "ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"


async def _put_row(harness, email: str, **attributes: Any) -> None:
    item: dict[str, Any] = {"campaignKey": {"S": f"acme#{CAMPAIGN}"}, "email": {"S": email}}
    for name, value in attributes.items():
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, int):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": value}
    await harness.dynamodb.put_item(TableName=harness.settings.resources.ledger_table, Item=item)


async def _raw_row(harness, email: str) -> dict[str, Any]:
    response = await harness.dynamodb.get_item(
        TableName=harness.settings.resources.ledger_table,
        Key={"campaignKey": {"S": f"acme#{CAMPAIGN}"}, "email": {"S": email}},
        ConsistentRead=True,
    )
    return dict(response["Item"])


def _settings(harness, **overrides: Any) -> Settings:
    return harness.settings.model_copy(update=overrides)


async def test_send_events_reconcile_in_doubt_rows(harness, make_event):
    await harness.seed_campaign(recipientCount=4, finalCount=3, sentCount=1, unknownCount=2)
    await _put_row(harness, ADA, state="sending", leaseOwner="p1", leaseExpiresAt=1, attempt=1)  # died mid-send
    await _put_row(harness, BOB, state="unknown", reason="lease_expired", counted=True)  # given up, counted
    await _put_row(harness, CY, state="sent", messageId="m-cy", counted=True)
    await _put_row(harness, DEE, state="unknown", reason="lease_expired")  # judged, not counted yet

    async def processor_counts_dee_a_moment_later() -> None:
        await asyncio.sleep(0.5)
        await _put_row(harness, DEE, state="unknown", reason="lease_expired", counted=True)

    async with harness.running():
        counting = asyncio.create_task(processor_counts_dee_a_moment_later())
        await harness.publish(
            *(make_event("Send", recipient=r, message_id=f"m-{r.split('@')[0]}") for r in (ADA, BOB, CY, DEE)),
            make_event("Send", recipient=BOB, message_id="m-bob"),  # SNS delivering it twice
        )
        await counting
        await harness.drained(timeout=20)

    ada, bob, cy, dee = [await _raw_row(harness, r) for r in (ADA, BOB, CY, DEE)]
    assert (ada["state"]["S"], ada["messageId"]["S"], ada["reason"]["S"]) == ("sent", "m-ada", "reconciled_send_event")
    assert "sentAt" in ada
    assert "counted" not in ada  # the processor counts it when it next handles the batch
    assert (bob["state"]["S"], bob["messageId"]["S"], bob["counted"]["BOOL"]) == ("sent", "m-bob", True)
    assert (cy["state"]["S"], cy["messageId"]["S"]) == ("sent", "m-cy")
    assert "reason" not in cy
    assert (dee["state"]["S"], dee["messageId"]["S"]) == ("sent", "m-dee")
    item = await harness.campaign()
    assert (item["sentCount"], item["unknownCount"], item["finalCount"]) == (3, 0, 3)  # BOB and DEE, once each


async def _seed_retryable(harness) -> None:
    await harness.seed_campaign(recipientCount=2, finalCount=2, sentCount=2, recipientParts=1, templateVersion=3)
    await harness.dynamodb.update_item(
        TableName=harness.settings.resources.campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": CAMPAIGN}},
        UpdateExpression="SET templateId = :t, priority = :p",
        ExpressionAttributeValues={":t": {"S": "newsletter"}, ":p": {"S": "high"}},
    )
    part = "".join(
        json.dumps({"email": e, "data": {"first_name": e[:3].title()}}) + "\n" for e in ("Bob@example.com", ADA)
    )
    await harness.aws.require_s3().put_object(
        Bucket=harness.settings.resources.bucket,
        Key=f"recipients/acme/{CAMPAIGN}/part-00001.jsonl",
        Body=part.encode(),
    )
    await _put_row(harness, ADA, state="sent", messageId="m-1", counted=True, batchId="batch_000001")
    await _put_row(harness, BOB, state="sent", messageId="m-bob", counted=True, batchId="batch_000001")


async def _jobs(harness, wait: int = 0) -> list[dict[str, Any]]:
    """Jobs on the high-priority queue: the seeded campaign's priority, so its retries go there."""
    response = await harness.aws.require_sqs().receive_message(
        QueueUrl=harness.provisioned.email_jobs_queue_urls["high"], MaxNumberOfMessages=10, WaitTimeSeconds=wait
    )
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


async def test_a_soft_bounce_is_retried_with_a_delay_then_fails(harness, make_event):
    await _seed_retryable(harness)
    settings = _settings(harness, analytics_soft_bounce_retries=1, analytics_soft_bounce_retry_delay_seconds=3)

    def soft(message_id: str, feedback: str) -> dict[str, Any]:
        return make_event("Bounce", recipient=ADA, message_id=message_id, bounceType="Transient", feedbackId=feedback)

    async with harness.running(settings):
        await harness.publish(soft("m-1", "f1"))
        await harness.drained()
        early_jobs = await _jobs(harness)  # delayed: not visible yet
        await harness.publish(soft("m-1", "f1"))  # SNS delivering it again: no second retry
        await harness.drained()
        row = await _raw_row(harness, ADA)
        item = await harness.campaign()
        jobs = await _jobs(harness, wait=5)
        jobs += await _jobs(harness, wait=1)
        job = jobs[0]

        # the processor claims the pending row, sends it again (m-2) and counts it
        await harness.dynamodb.update_item(
            TableName=harness.settings.resources.ledger_table,
            Key={"campaignKey": {"S": f"acme#{CAMPAIGN}"}, "email": {"S": ADA}},
            UpdateExpression="SET #s = :sent, messageId = :mid, counted = :true, batchId = :batch",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":sent": {"S": "sent"}, ":mid": {"S": "m-2"}, ":true": {"BOOL": True}, ":batch": {"S": job["batchId"]}
            },
        )  # fmt: skip
        await harness.dynamodb.update_item(
            TableName=harness.settings.resources.campaigns_table,
            Key={"tenantId": {"S": "acme"}, "campaignId": {"S": CAMPAIGN}},
            UpdateExpression="ADD sentCount :one, finalCount :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        await harness.publish(soft("m-2", "f2"), soft("m-1", "f3"))  # the retry bounces too; a stray old one
        await harness.drained()
        await asyncio.sleep(3.5)
        later_jobs = await _jobs(harness)

    assert early_jobs == []
    assert (row["state"]["S"], row["reason"]["S"], row["softBounceRetries"]["N"]) == (
        "pending",
        "soft_bounce_retry",
        "1",
    )
    assert "counted" not in row
    assert (item["sentCount"], item["finalCount"], item["softBouncedCount"]) == (1, 1, 1)  # ADA is queued again
    assert compute_stats(item).queued == 1
    assert len(jobs) == 1
    job = jobs[0]
    assert job["batchId"].startswith("retry_1_")
    assert job == {
        "campaignId": CAMPAIGN,
        "tenantId": "acme",
        "batchId": job["batchId"],
        "recipients": [{"email": ADA, "data": {"first_name": "Ada"}}],
        "templateId": "newsletter",
        "templateVersion": 3,
        "priority": "high",
    }

    final = await _raw_row(harness, ADA)
    assert (final["state"]["S"], final["reason"]["S"]) == ("failed", "soft_bounce")
    assert later_jobs == []  # the budget (1 retry) is spent
    item = await harness.campaign()
    assert (item["sentCount"], item["failedCount"], item["finalCount"], item["softBouncedCount"]) == (1, 1, 2, 1)
    stats = compute_stats(item)
    parts = stats.queued + stats.sent + stats.failed + stats.suppressed + stats.invalid + stats.unknown
    assert parts == stats.recipients == 2


async def test_a_soft_bounce_beyond_a_zero_budget_counts_an_uncounted_send_as_failed(harness, make_event):
    await harness.seed_campaign(recipientCount=1, finalCount=0)
    await _put_row(harness, ADA, state="sent", messageId="m-1")  # the processor has not counted it yet
    settings = _settings(harness, analytics_soft_bounce_retries=0)
    async with harness.running(settings):
        await harness.publish(make_event("Bounce", recipient=ADA, message_id="m-1", bounceType="Transient"))
        await harness.drained()

    row = await _raw_row(harness, ADA)
    assert (row["state"]["S"], row["counted"]["BOOL"]) == ("failed", True)  # the processor's count drops it
    item = await harness.campaign()
    assert (item["failedCount"], item["finalCount"], item.get("sentCount", 0)) == (1, 1, 0)
    assert item["status"] == "sent"  # it was the campaign's last recipient


async def test_the_reputation_guard_pauses_a_campaign_over_the_bounce_rate(harness, make_event):
    other = "camp_0123456789abcdefzzzz"
    await harness.seed_campaign(recipientCount=10, finalCount=10, sentCount=10)
    await harness.seed_campaign(other, recipientCount=20, finalCount=20, sentCount=20)
    await harness.seed_ledger(ADA)
    await harness.seed_ledger(ADA, campaign=other)
    settings = _settings(harness, analytics_guard_min_sends=10)
    async with harness.running(settings):
        await harness.publish(
            make_event("Bounce", recipient=ADA),  # 1 of 10: 10 % > 5 %
            make_event("Bounce", recipient=ADA, campaign=other, message_id="m-other"),  # 1 of 20: 5 %, not over
        )
        await harness.drained()

    paused, running = await harness.campaign(), await harness.campaign(other)
    assert paused["status"] == "paused"
    assert paused["statusReason"] == (
        "Paused automatically: bounce rate 10.00% (1 of 10 sent) is over the 5.00% limit."
    )
    assert running["status"] == "sending"
    assert "statusReason" not in running


async def test_machine_opens_are_flagged_and_left_out_of_the_open_rate(harness, make_event):
    await harness.seed_campaign(recipientCount=2, finalCount=2, sentCount=2)
    await _put_row(harness, ADA, state="sent", messageId="m-ada", counted=True, sentAt="2024-01-15T10:30:00.000Z")
    await _put_row(harness, BOB, state="sent", messageId="m-bob", counted=True, sentAt="2024-01-15T10:30:00.000Z")
    proxy = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    reader = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
    async with harness.running():
        await harness.publish(make_event("Delivery", recipient=ADA, message_id="m-ada"))  # at 10:30:02
        await harness.drained()
        await harness.publish(
            make_event(
                "Open", recipient=ADA, message_id="m-ada", timestamp="2024-01-15T10:30:03.000Z", userAgent=proxy
            ),
            make_event(
                "Open", recipient=BOB, message_id="m-bob", timestamp="2024-01-15T10:29:59.000Z", userAgent=reader
            ),
        )
        await harness.drained()
        await harness.publish(
            make_event(
                "Open", recipient=ADA, message_id="m-ada", timestamp="2024-01-15T12:00:00.000Z", userAgent=reader
            )
        )
        await harness.drained()

    stats = compute_stats(await harness.campaign())
    assert (stats.opened, stats.machineOpened, stats.delivered) == (1, 2, 1)
    assert stats.openRate == 1.0  # ADA's own read, of 1 delivered
    ada = await _raw_row(harness, ADA)
    assert ada["machineOpenedAt"]["S"] == "2024-01-15T10:30:03.000Z"
    assert ada["openedAt"]["S"] == "2024-01-15T12:00:00.000Z"


async def test_by_default_a_soft_bounce_is_retried_later(harness, make_event):
    await _seed_retryable(harness)
    assert harness.settings.analytics_soft_bounce_retries == 2  # the default budget
    assert harness.settings.analytics_soft_bounce_retry_delay_seconds == 30
    async with harness.running():
        await harness.publish(make_event("Bounce", recipient=ADA, message_id="m-1", bounceType="Transient"))
        await harness.drained()

    row = await _raw_row(harness, ADA)
    assert (row["state"]["S"], row["delivery"]["S"], row["softBounceRetries"]["N"]) == ("pending", "softBounced", "1")
    item = await harness.campaign()
    assert (item["sentCount"], item["finalCount"], item["softBouncedCount"]) == (1, 1, 1)  # ADA is queued again
    attributes = await harness.aws.require_sqs().get_queue_attributes(
        QueueUrl=harness.provisioned.email_jobs_queue_urls["high"],  # the seeded campaign's priority
        AttributeNames=["ApproximateNumberOfMessagesDelayed"],
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"  # the retry, 30 s from now
    assert await _jobs(harness) == []


async def test_a_retry_of_a_finished_campaign_makes_it_sending_again(harness, make_event):
    await _seed_retryable(harness)
    await harness.dynamodb.update_item(
        TableName=harness.settings.resources.campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": CAMPAIGN}},
        UpdateExpression="SET #s = :sent, sentAt = :at",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":sent": {"S": "sent"}, ":at": {"S": "2024-01-15T10:31:00.000Z"}},
    )
    async with harness.running():
        await harness.publish(make_event("Bounce", recipient=ADA, message_id="m-1", bounceType="Transient"))
        await harness.drained()

    item = await harness.campaign()
    assert (item["status"], compute_stats(item).queued) == ("sending", 1)  # not `sent` while ADA waits for her retry
    assert "sentAt" not in item


async def test_the_guard_pauses_once_the_sends_reach_the_volume_with_bounces_counted_before(harness, make_event):
    await harness.seed_campaign(recipientCount=20, finalCount=5, sentCount=5)
    await harness.seed_ledger(ADA, BOB)
    settings = _settings(harness, analytics_guard_min_sends=10)
    async with harness.running(settings):
        await harness.publish(make_event("Bounce", recipient=ADA, message_id="m-ada"))  # 1 of 5: too few sends
        await harness.drained()
        await asyncio.sleep(0.3)  # the announcement window: the guard has looked
        assert (await harness.campaign())["status"] == "sending"

        # The processor sends five more (no bounce among them); the next count, a Delivery, makes the guard look.
        await harness.dynamodb.update_item(
            TableName=harness.settings.resources.campaigns_table,
            Key={"tenantId": {"S": "acme"}, "campaignId": {"S": CAMPAIGN}},
            UpdateExpression="ADD sentCount :five, finalCount :five",
            ExpressionAttributeValues={":five": {"N": "5"}},
        )
        await harness.publish(make_event("Delivery", recipient=BOB, message_id="m-bob"))
        await harness.drained()
        for _ in range(40):
            if (await harness.campaign())["status"] == "paused":
                break
            await asyncio.sleep(0.05)

    item = await harness.campaign()
    assert (item["status"], item["bouncedCount"], item["deliveredCount"]) == ("paused", 1, 1)
    assert item["statusReason"] == "Paused automatically: bounce rate 10.00% (1 of 10 sent) is over the 5.00% limit."
