"""The processor's background work: find the email-jobs queue, poll it, sample queue depths, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.sqs import SqsPoller
from herald_processor.consumer import EmailJobHandler, sample_queue_depth
from herald_processor.decisions import retry_policy

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

    from herald_processor.config import Settings
    from herald_processor.service import BatchService

log = structlog.get_logger("herald.processor")

# In-flight SES calls end within the SES client's connect + read timeouts (5 + 15 s); a batch cancelled in the middle
# of one would leave that recipient in doubt, so shutdown waits a little longer than that.
SHUTDOWN_GRACE_SECONDS = 25.0


class ProcessorWorker:
    """Runs the SqsPoller on the email-jobs queue until `stop()`; in-flight batches finish or are released."""

    def __init__(self, settings: Settings, sqs: SQSClient, service: BatchService) -> None:
        self._settings = settings
        self._sqs = sqs
        self._service = service
        self._stopping = asyncio.Event()
        self._poller: SqsPoller | None = None

    @property
    def ready(self) -> bool:
        return self._poller is not None

    def stop(self) -> None:
        self._stopping.set()
        self._service.stop()
        if self._poller is not None:
            self._poller.stop()

    async def _queue_urls(self) -> tuple[str, str] | None:
        """(queue, dead-letter queue) URLs, asked again until provisioning has created them or we are stopped."""
        names = self._settings.resources
        delay = 0.5
        while not self._stopping.is_set():
            try:
                url = (await self._sqs.get_queue_url(QueueName=names.email_jobs_queue))["QueueUrl"]
                dlq_name = names.dead_letter_queue(names.email_jobs_queue)
                dlq = (await self._sqs.get_queue_url(QueueName=dlq_name))["QueueUrl"]
                return url, dlq
            except (ClientError, BotoCoreError, OSError) as exc:
                log.warning("processor.queue_not_found", queue=names.email_jobs_queue, error=str(exc), retryIn=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(10.0, delay * 2)
        return None

    async def _sample_depth(self, queues: dict[str, str]) -> None:
        while not self._stopping.is_set():
            try:
                await sample_queue_depth(self._sqs, queues)
            except (ClientError, BotoCoreError, OSError) as exc:
                log.debug("processor.queue_depth_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._settings.queue_depth_interval)

    async def run(self) -> None:
        urls = await self._queue_urls()
        if urls is None:
            return
        url, dlq = urls
        settings = self._settings
        handler = EmailJobHandler(self._service, self._sqs, url, requeue_after_receives=settings.requeue_after_receives)
        self._poller = SqsPoller(
            self._sqs,
            url,
            handler,
            concurrency=settings.concurrency,
            visibility_timeout=settings.visibility_timeout,
            handler_timeout=settings.handler_timeout,
            retry_policy=retry_policy,
            dead_letter_url=dlq,
            shutdown_grace=SHUTDOWN_GRACE_SECONDS,
            name="email-jobs",
        )
        if self._stopping.is_set():
            return
        names = settings.resources
        depth = asyncio.create_task(
            self._sample_depth({names.email_jobs_queue: url, names.dead_letter_queue(names.email_jobs_queue): dlq})
        )
        try:
            await self._poller.run()
        finally:
            self._stopping.set()
            depth.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await depth
