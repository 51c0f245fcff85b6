"""What the processor settles by itself reaches the webhooks queue (campaign-updates topic → `{prefix}-webhooks`),
against the emulator: a render failure as `failed`, an in-doubt recipient under `hold` as `unknown`, the campaign's
completion as a numbered status move; and a settlement whose announcement failed stays uncounted until the batch's
next handling announces it."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_common.aws import find_topic_arn
from herald_processor.app import build_service
from herald_processor.domain import BatchDeferred
from herald_processor.schemas import parse_job
from tests.processor.test_against_emulator import (
    TENANT,
    campaign_item,
    ledger_states,
    processor_settings,
    put_campaign,
    put_template,
    stand_in_template_service,
)

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_processor.config import Settings


def _job(campaign_id: str, recipients: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "campaignId": campaign_id,
            "tenantId": TENANT,
            "batchId": "batch_000001",
            "recipients": recipients,
            "templateId": "newsletter",
            "templateVersion": 2,
            "priority": "normal",
        }
    )


async def _announcements(aws: AwsClients, settings: Settings, campaign_id: str) -> list[dict[str, Any]]:
    """Every announcement about the campaign on the webhooks queue (the SES events there are left out)."""
    sqs = aws.require_sqs()
    url = (await sqs.get_queue_url(QueueName=settings.resources.webhooks_queue))["QueueUrl"]
    found: list[dict[str, Any]] = []
    while True:
        response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = response.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            document = json.loads(json.loads(message["Body"])["Message"])
            if document.get("campaignId") == campaign_id and document.get("type") != "campaign.stats":
                found.append(document)
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _template_service(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=settings.template_url, transport=stand_in_template_service(settings, []))


async def _service(aws: AwsClients, settings: Settings, http: httpx.AsyncClient, topic: str | None = None) -> Any:
    topic = topic or await find_topic_arn(aws.require_sns(), settings.resources.campaign_updates_topic)
    return build_service(settings, aws, http, updates_topic_arn=topic)


async def test_a_render_failure_and_the_completion_are_announced(emulator, herald_settings, aws):
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=2)
    await put_template(aws, settings, 2)
    recipients = [{"email": "ada@example.com", "data": {"first_name": "Ada"}}, {"email": "bob@example.com"}]
    async with _template_service(settings) as h:
        service = await _service(aws, settings, h)
        report = await service.process(parse_job(_job(campaign_id, recipients)))
    assert report.campaign_completed

    announced = await _announcements(aws, settings, campaign_id)
    settled = [a for a in announced if a["type"] == "email.settled"]
    assert [(a["email"], a["state"], a["reason"], a["attempt"], a["retryCall"]) for a in settled] == [
        ("bob@example.com", "failed", "render_error", 0, None)
    ]
    moves = [a for a in announced if a["type"] == "campaign.status"]
    assert [(m["status"], m["previousStatus"], m["statusVersion"]) for m in moves] == [("sent", "sending", 1)]
    item = await campaign_item(aws, settings, campaign_id)
    assert item["statusVersion"] == {"N": "1"}  # numbered in the write that made the move
    assert item["failedCount"] == {"N": "1"}


async def test_an_in_doubt_recipient_held_as_unknown_is_announced(emulator, herald_settings, aws):
    settings = processor_settings(herald_settings, in_doubt="hold", reconcile_window=0)
    campaign_id = await put_campaign(aws, settings, recipient_count=1)
    await put_template(aws, settings, 2)
    # A claim whose lease ran out long ago with no SES event: under `hold`, final `unknown`.
    await aws.require_dynamodb().put_item(
        TableName=settings.resources.ledger_table,
        Item={
            "campaignKey": {"S": f"{TENANT}#{campaign_id}"},
            "email": {"S": "ada@example.com"},
            "state": {"S": "sending"},
            "leaseOwner": {"S": "gone-processor"},
            "leaseExpiresAt": {"N": str(int(time.time()) - 600)},
            "attempt": {"N": "1"},
            "batchId": {"S": "batch_000001"},
        },
    )
    recipients = [{"email": "ada@example.com", "data": {"first_name": "Ada"}}]
    async with _template_service(settings) as h:
        service = await _service(aws, settings, h)
        await service.process(parse_job(_job(campaign_id, recipients)))

    settled = [a for a in await _announcements(aws, settings, campaign_id) if a["type"] == "email.settled"]
    assert [(a["email"], a["state"], a["reason"], a["attempt"]) for a in settled] == [
        ("ada@example.com", "unknown", "lease_expired", 1)
    ]


async def test_a_settlement_not_announced_stays_uncounted_until_the_next_handling_announces_it(
    emulator, herald_settings, aws
):
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=1)
    await put_template(aws, settings, 2)
    job = parse_job(_job(campaign_id, [{"email": "bob@example.com"}]))  # no first_name: a render failure
    gone = f"arn:aws:sns:us-east-1:123456789012:{settings.resources.prefix}-no-such-topic"
    async with _template_service(settings) as h:
        with pytest.raises(BatchDeferred):
            await (await _service(aws, settings, h, topic=gone)).process(job)
        row = (await ledger_states(aws, settings, campaign_id))["bob@example.com"]
        assert row["state"] == {"S": "failed"}
        assert "counted" not in row  # held back from the count, so the batch comes back for it
        assert (await campaign_item(aws, settings, campaign_id))["status"] == {"S": "sending"}

        report = await (await _service(aws, settings, h)).process(job)  # the batch's next handling
    assert report.campaign_completed
    settled = [a for a in await _announcements(aws, settings, campaign_id) if a["type"] == "email.settled"]
    assert [(a["email"], a["state"]) for a in settled] == [("bob@example.com", "failed")]
    row = (await ledger_states(aws, settings, campaign_id))["bob@example.com"]
    assert row["counted"] == {"BOOL": True}
