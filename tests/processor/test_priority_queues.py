"""The processor's email-jobs queues: found per priority (plus the pre-priority queue while it exists), and a batch
handed back goes to its own priority's queue."""

from __future__ import annotations

import json

from herald_common.sqs import SqsMessage
from herald_processor.consumer import EmailJobHandler, find_email_job_queues
from tests.processor.test_templates_and_handler import DeferringService


async def test_queues_are_read_high_normal_low_with_every_queue_and_dead_letter_queue_sampled(
    herald_settings, provisioned, aws
):
    names = herald_settings.resources
    queues = await find_email_job_queues(aws.sqs, names)
    urls = provisioned.email_jobs_queue_urls
    dlqs = provisioned.email_jobs_dlq_urls
    assert [(q.url, q.dead_letter_url) for q in queues.polled] == [
        (urls[p], dlqs[p]) for p in ("high", "normal", "low")
    ]
    assert queues.by_priority == urls
    assert set(queues.depth) == {q for name in names.email_jobs_queues for q in (name, names.dead_letter_queue(name))}


async def test_the_single_queue_of_an_older_stack_is_drained_right_after_normal(herald_settings, provisioned, aws):
    names = herald_settings.resources
    legacy = (await aws.sqs.create_queue(QueueName=names.legacy_email_jobs_queue))["QueueUrl"]
    queues = await find_email_job_queues(aws.sqs, names)
    urls = provisioned.email_jobs_queue_urls
    assert [q.url for q in queues.polled] == [urls["high"], urls["normal"], legacy, urls["low"]]
    assert queues.depth[names.legacy_email_jobs_queue] == legacy
    assert queues.by_priority == urls  # nothing is ever sent to it


async def test_a_batch_handed_back_goes_to_its_priority_queue_whatever_queue_it_came_from(provisioned, aws):
    urls = provisioned.email_jobs_queue_urls
    job = json.dumps(
        {
            "campaignId": "camp_abc",
            "tenantId": "acme",
            "batchId": "batch_000001",
            "recipients": ["a@example.com"],
            "priority": "low",
        }
    )
    handler = EmailJobHandler(DeferringService(), aws.sqs, urls, requeue_after_receives=1)  # type: ignore[arg-type]
    # Received from the normal queue (or the old single one): deferred at its receive limit, it comes back fresh.
    await handler(SqsMessage("m1", "r", job, receive_count=1, queue_url=urls["normal"]))
    got = await aws.sqs.receive_message(QueueUrl=urls["low"], WaitTimeSeconds=2)
    assert [json.loads(m["Body"])["batchId"] for m in got.get("Messages", [])] == ["batch_000001"]
    nothing = await aws.sqs.receive_message(QueueUrl=urls["normal"], WaitTimeSeconds=0)
    assert nothing.get("Messages", []) == []
