"""A batch that fails every time (a poison message) reaches the dead-letter queue on the queue's own
`maxReceiveCount` and is counted on its campaign, once; a malformed job that still names its campaign too. The real
worker (queue lookup, redrive policy, poller, handler) against the emulator's SQS and DynamoDB."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from herald_processor.app import build_service
from herald_processor.worker import ProcessorWorker
from tests.processor.test_against_emulator import (
    campaign_item,
    job_body,
    processor_settings,
    put_campaign,
    put_template,
)


def broken_template_service(calls: list[int]) -> httpx.MockTransport:
    """Answers every render with a result list of the wrong length: the batch fails, every time."""

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"results": []})

    return httpx.MockTransport(handle)


async def messages_in(sqs: Any, url: str) -> list[dict[str, Any]]:
    answer = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return list(answer.get("Messages", []))


async def test_a_poison_batch_is_dead_lettered_on_the_last_receive_and_counted(herald_settings, provisioned, aws):
    # requeue_after_receives at the queue's maxReceiveCount: no crash-loop rescue (a fresh copy) gets in the way.
    settings = processor_settings(
        herald_settings, requeue_after_receives=5, visibility_timeout=20, handler_timeout=15, batch_time_budget=5
    )
    campaign_id = await put_campaign(aws, settings, recipient_count=2)
    await put_template(aws, settings, 2)
    url, dlq = provisioned.email_jobs_queue_url, provisioned.email_jobs_dlq_url
    redrive = await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    max_receives = int(json.loads(redrive["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
    body = job_body(campaign_id, ["a@example.com", "b@example.com"])
    await aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    # A malformed job (no recipients) that names its campaign: dead-lettered at once, counted too.
    malformed = json.dumps({"tenantId": "acme", "campaignId": campaign_id, "batchId": "batch_bad", "recipients": []})
    await aws.sqs.send_message(QueueUrl=url, MessageBody=malformed)

    calls: list[int] = []
    async with httpx.AsyncClient(base_url="http://template.test", transport=broken_template_service(calls)) as http:
        worker = ProcessorWorker(settings, aws.sqs, build_service(settings, aws, http))
        task = asyncio.create_task(worker.run())
        dead: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90  # backoffs of at most 2, 4, 8, 16 s between the five receives
        while len(dead) < 2 and time.monotonic() < deadline:
            dead += await messages_in(aws.sqs, dlq)
            await asyncio.sleep(0.5)
        worker.stop()
        await asyncio.wait_for(task, 30)

    assert sorted(m["Body"] for m in dead) == sorted([body, malformed])
    assert len(calls) == max_receives, "one render per receive, up to the queue's maxReceiveCount"
    assert await messages_in(aws.sqs, url) == []
    item = await campaign_item(aws, settings, campaign_id)
    assert (item["deadLetterBatches"]["N"], item["deadLetterRecipients"]["N"]) == ("2", "2")
    assert set(item["deadLetterBatchIds"]["SS"]) == {"batch_000001", "batch_bad"}
    assert "finalCount" not in item  # nothing of it was sent or counted as final


async def test_a_dead_lettered_batch_is_counted_once(herald_settings, aws):
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=2)
    async with httpx.AsyncClient(base_url="http://template.test", transport=broken_template_service([])) as http:
        service = build_service(settings, aws, http)
        for _ in range(2):  # a crash after counting and before the move to the dead-letter queue: counted again? no
            await service.dead_lettered("acme", campaign_id, "batch_000001", 2)
        await service.dead_lettered("acme", "camp_doesnotexist", "batch_000001", 2)  # no campaign: nothing
    item = await campaign_item(aws, settings, campaign_id)
    assert (item["deadLetterBatches"]["N"], item["deadLetterRecipients"]["N"]) == ("1", "2")
