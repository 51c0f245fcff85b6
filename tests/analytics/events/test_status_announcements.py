"""Analytics' own status moves (guard pause, completion, reopen) number themselves and are announced on the
campaign-updates topic for the webhooks' `campaign.status`, and so is a recipient it fails for soft bounces past the
retry budget (`email.failed`); against the emulator."""

from __future__ import annotations

import json
from typing import Any

from herald_analytics.events.repository import CampaignCounters
from herald_analytics.events.schemas import CampaignRef
from herald_common.announcements import TopicAnnouncer
from tests.analytics.conftest import CAMPAIGN, TENANT

ADA = "ada@example.com"

NOW = "2026-12-01T10:00:00.000Z"


async def _listen(harness) -> str:
    sqs, sns = harness.aws.require_sqs(), harness.aws.require_sns()
    url = (await sqs.create_queue(QueueName=f"{harness.settings.resource_prefix}-listen"))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"]["QueueArn"]
    topic = harness.provisioned.campaign_updates_topic_arn
    await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


async def _heard(harness, url: str) -> list[dict[str, Any]]:
    response = await harness.aws.require_sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


async def test_each_move_analytics_makes_is_announced_with_its_number(harness):
    url = await _listen(harness)
    await harness.seed_campaign(recipientCount=1, finalCount=1)
    announcer = TopicAnnouncer(harness.aws.require_sns(), harness.provisioned.campaign_updates_topic_arn)
    counters = CampaignCounters(harness.aws.require_dynamodb(), harness.settings.resources.campaigns_table, announcer)
    ref = CampaignRef(TENANT, CAMPAIGN)

    assert await counters.pause(ref, "Paused automatically: bounce rate 6.00%", NOW)
    assert not await counters.pause(ref, "again", NOW)  # not a move: nothing announced
    heard = await _heard(harness, url)

    assert [(m["type"], m["status"], m["previousStatus"], m["statusVersion"]) for m in heard] == [
        ("campaign.status", "paused", "sending", 1)
    ]
    assert heard[0]["statusReason"] == "Paused automatically: bounce rate 6.00%"
    assert (heard[0]["tenantId"], heard[0]["campaignId"], heard[0]["at"]) == (TENANT, CAMPAIGN, NOW)
    item = await harness.aws.require_dynamodb().get_item(
        TableName=harness.settings.resources.campaigns_table,
        Key={"tenantId": {"S": TENANT}, "campaignId": {"S": CAMPAIGN}},
    )
    assert item["Item"]["statusVersion"] == {"N": "1"}


async def test_a_soft_bounce_past_the_budget_is_announced_as_a_failed_settlement(harness, make_event):
    url = await _listen(harness)
    await harness.seed_campaign(recipientCount=1, finalCount=0)
    row = {"campaignKey": {"S": f"acme#{CAMPAIGN}"}, "email": {"S": ADA}, "state": {"S": "sent"}}
    row |= {"messageId": {"S": "m-1"}, "attempt": {"N": "2"}, "retryCall": {"N": "1"}}
    await harness.dynamodb.put_item(TableName=harness.settings.resources.ledger_table, Item=row)
    settings = harness.settings.model_copy(update={"analytics_soft_bounce_retries": 0})
    async with harness.running(settings):
        await harness.publish(make_event("Bounce", recipient=ADA, message_id="m-1", bounceType="Transient"))
        await harness.drained()
    heard = await _heard(harness, url)

    settled = [m for m in heard if m["type"] == "email.settled"]
    assert [(m["email"], m["state"], m["reason"], m["attempt"], m["retryCall"], m["messageId"]) for m in settled] == [
        (ADA, "failed", "soft_bounce", 2, 1, "m-1")
    ]
    # It was the campaign's last recipient: analytics completed the campaign, and said so.
    moves = [(m["status"], m["previousStatus"], m["statusVersion"]) for m in heard if m["type"] == "campaign.status"]
    assert moves == [("sent", "sending", 1)]
