"""The email-jobs queue handler: one SQS message is one batch. Parses, binds log context, runs the batch service,
and turns "come back later" into a visibility change or, for long waits, a fresh copy of the message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import ClientError

from herald_common.metrics import BATCHES
from herald_common.resources import DEFAULT_PRIORITY, EMAIL_JOB_PRIORITIES
from herald_common.sqs import PolledQueue
from herald_processor.domain import BatchDeferred, MalformedJob
from herald_processor.schemas import identify_job, parse_job

if TYPE_CHECKING:
    from collections.abc import Mapping

    from types_aiobotocore_sqs import SQSClient

    from herald_common.resources import ResourceNames
    from herald_common.sqs import SqsMessage
    from herald_processor.schemas import EmailJob
    from herald_processor.service import BatchService

log = structlog.get_logger("herald.processor")

# SQS limit: DelaySeconds of one message is at most 15 minutes.
SQS_MAX_DELAY_SECONDS = 900
# A batch received this many times more than `requeue_after_receives` without an outcome (its processors died, or
# it kept failing) comes back fresh, at most MAX_RESCUES times; after that the queue's redrive dead-letters it.
MAX_RESCUES = 5
RESCUE_DELAY_SECONDS = 2


@dataclass(frozen=True)
class EmailJobQueues:
    """The email-jobs queues of one stack: what the poller reads (highest priority first), where a batch of each
    priority is re-queued, and every queue whose depth is a metric."""

    polled: tuple[PolledQueue, ...]
    by_priority: dict[str, str]
    depth: dict[str, str]


async def find_email_job_queues(sqs: SQSClient, names: ResourceNames) -> EmailJobQueues:
    """Look the queues up (ClientError while provisioning has not created them). The pre-priority single queue
    `{prefix}-email-jobs` is read too, right after `normal`, while it exists: batches queued before an upgrade still go
    out, and a deferred one comes back on its priority's queue."""
    by_priority: dict[str, str] = {}
    depth: dict[str, str] = {}
    polled: list[PolledQueue] = []
    for priority in EMAIL_JOB_PRIORITIES:
        name = names.email_jobs_queue_for(priority)
        dlq_name = names.dead_letter_queue(name)
        url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
        dlq = (await sqs.get_queue_url(QueueName=dlq_name))["QueueUrl"]
        by_priority[priority], depth[name], depth[dlq_name] = url, url, dlq
        polled.append(PolledQueue(url, dlq))
    legacy = await _queue_url_if_any(sqs, names.legacy_email_jobs_queue)
    if legacy is not None:
        legacy_dlq = await _queue_url_if_any(sqs, names.dead_letter_queue(names.legacy_email_jobs_queue))
        polled.insert(EMAIL_JOB_PRIORITIES.index(DEFAULT_PRIORITY) + 1, PolledQueue(legacy, legacy_dlq))
        depth[names.legacy_email_jobs_queue] = legacy
        log.info("processor.legacy_queue_found", queue=names.legacy_email_jobs_queue)
    return EmailJobQueues(polled=tuple(polled), by_priority=by_priority, depth=depth)


async def _queue_url_if_any(sqs: SQSClient, name: str) -> str | None:
    try:
        return (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    except ClientError:  # absent (or not ours to read): nothing to drain
        return None


class EmailJobHandler:
    """The `MessageHandler` given to the SqsPoller for the email-jobs queues."""

    def __init__(
        self,
        service: BatchService,
        sqs: SQSClient,
        queue_urls: Mapping[str, str],
        *,
        requeue_after_receives: int = 3,
        max_receive_count: int | None = None,
    ) -> None:
        """`queue_urls`: the email-jobs queue of each priority; a batch handed back goes to its priority's."""
        self._service = service
        self._sqs = sqs
        self._queue_urls = dict(queue_urls)
        self._requeue_after = requeue_after_receives
        self._max_receives = max_receive_count

    async def __call__(self, message: SqsMessage) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(messageId=message.message_id)
        try:
            job = parse_job(message.body)
        except MalformedJob as exc:
            BATCHES.labels("malformed").inc()
            # Never the body: a job body is a recipient list (the message itself ends in the dead-letter queue).
            log.error("processor.malformed_job", detail=exc.detail, bodyChars=len(message.body))
            if (ids := identify_job(message.body)) is not None:
                await self._service.dead_lettered(*ids)
            raise
        structlog.contextvars.bind_contextvars(campaignId=job.campaign_id, batchId=job.batch_id, tenantId=job.tenant_id)
        if message.receive_count > self._requeue_after and job.rescues < MAX_RESCUES:
            # Deferrals come back fresh at `requeue_after` receives, so only crashes (kill -9 mid-batch) and failures
            # get this far: before the receive count reaches the dead-letter threshold, hand the batch back as a new
            # message. The ledger makes a second look harmless; MAX_RESCUES lets a true poison message dead-letter.
            BATCHES.labels("rescued").inc()
            await self._send_fresh(_with_rescues(message.body, job), RESCUE_DELAY_SECONDS, job.priority)
            log.warning("processor.batch_rescued", receiveCount=message.receive_count, rescues=job.rescues + 1)
            return
        try:
            report = await self._service.process(job, receive_count=message.receive_count)
        except BatchDeferred as exc:
            BATCHES.labels("deferred").inc()
            log.info("processor.batch_deferred", reason=exc.detail, retryIn=exc.seconds)
            if message.receive_count >= self._requeue_after:
                # Each receive counts towards the queue's maxReceiveCount; a long pause or throttle must not
                # dead-letter a healthy batch, so it comes back as a fresh message (the ledger makes that safe).
                await self._requeue(message, exc.seconds, job.priority)
                return
            raise
        except Exception as exc:
            BATCHES.labels("failed").inc()
            log.warning("processor.batch_failed", error=repr(exc))
            if self._max_receives is not None and message.receive_count >= self._max_receives:
                # Its last receive: the retry policy dead-letters it now, so it is counted on its campaign.
                await self._service.dead_lettered(job.tenant_id, job.campaign_id, job.batch_id, len(job.recipients))
            raise
        BATCHES.labels("done").inc()
        log.info(
            "processor.batch_done",
            counted={s.value: n for s, n in report.counted.items()},
            campaignCompleted=report.campaign_completed,
        )
        if report.campaign_completed:
            # The flow document's campaign events: initiation is the campaign service's `campaign.send_accepted`;
            # completion is known here, where the last batch is counted.
            log.info("campaign.completed")

    async def _requeue(self, message: SqsMessage, seconds: int, priority: str) -> None:
        await self._send_fresh(message.body, seconds, priority)
        log.info("processor.batch_requeued", delay=seconds)

    async def _send_fresh(self, body: str, seconds: int, priority: str) -> None:
        url = self._queue_urls.get(priority) or self._queue_urls[DEFAULT_PRIORITY]
        await self._sqs.send_message(
            QueueUrl=url, MessageBody=body, DelaySeconds=min(max(seconds, 0), SQS_MAX_DELAY_SECONDS)
        )


def _with_rescues(body: str, job: EmailJob) -> str:
    """The message body with `rescues` one higher (everything else as it came)."""
    return json.dumps(json.loads(body) | {"rescues": job.rescues + 1}, separators=(",", ":"))
