"""The email-jobs queue handler: one SQS message is one batch. Parses, binds log context, runs the batch service,
and turns "come back later" into a visibility change or, for long waits, a fresh copy of the message."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import structlog

from herald_common.metrics import BATCHES
from herald_processor.domain import BatchDeferred, MalformedJob
from herald_processor.schemas import identify_job, parse_job

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

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


class EmailJobHandler:
    """The `MessageHandler` given to the SqsPoller for the email-jobs queue."""

    def __init__(
        self,
        service: BatchService,
        sqs: SQSClient,
        queue_url: str,
        *,
        requeue_after_receives: int = 3,
        max_receive_count: int | None = None,
    ) -> None:
        self._service = service
        self._sqs = sqs
        self._queue_url = queue_url
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
            await self._send_fresh(_with_rescues(message.body, job), RESCUE_DELAY_SECONDS)
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
                await self._requeue(message, exc.seconds)
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

    async def _requeue(self, message: SqsMessage, seconds: int) -> None:
        await self._send_fresh(message.body, seconds)
        log.info("processor.batch_requeued", delay=seconds)

    async def _send_fresh(self, body: str, seconds: int) -> None:
        await self._sqs.send_message(
            QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=min(max(seconds, 0), SQS_MAX_DELAY_SECONDS)
        )


def _with_rescues(body: str, job: EmailJob) -> str:
    """The message body with `rescues` one higher (everything else as it came)."""
    return json.dumps(json.loads(body) | {"rescues": job.rescues + 1}, separators=(",", ":"))
