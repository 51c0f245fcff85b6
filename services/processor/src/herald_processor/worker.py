"""The processor's background work: find the email-jobs queue, poll it, sample queue depths and the SES quota,
stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.metrics import SES_QUOTA_USED, sample_every, sample_queue_depth
from herald_common.resources import DEFAULT_PRIORITY
from herald_common.sqs import SqsPoller
from herald_processor.consumer import EmailJobHandler, EmailJobQueues, find_email_job_queues
from herald_processor.decisions import retry_policy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from types_aiobotocore_sqs import SQSClient

    from herald_processor.config import Settings
    from herald_processor.service import BatchService

log = structlog.get_logger("herald.processor")

# In-flight SES calls end within the SES client's connect + read timeouts (5 + 15 s); a batch cancelled in the middle
# of one would leave that recipient in doubt, so shutdown waits a little longer than that.
SHUTDOWN_GRACE_SECONDS = 25.0


class ProcessorWorker:
    """Runs the SqsPoller on the email-jobs queue until `stop()`; in-flight batches finish or are released."""

    def __init__(
        self,
        settings: Settings,
        sqs: SQSClient,
        service: BatchService,
        *,
        ses_quota: Callable[[], Awaitable[float | None]] | None = None,
    ) -> None:
        """`ses_quota` answers the share of the 24-hour SES quota used (None: unknown), sampled in the background."""
        self._settings = settings
        self._ses_quota = ses_quota
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

    async def _queue_urls(self) -> EmailJobQueues | None:
        """The email-jobs queues, asked again until provisioning has created them or we are stopped."""
        names = self._settings.resources
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return await find_email_job_queues(self._sqs, names)
            except (ClientError, BotoCoreError, OSError) as exc:
                log.warning("processor.queue_not_found", queue=names.email_jobs_queue, error=str(exc), retryIn=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(10.0, delay * 2)
        return None

    async def _max_receive_count(self, url: str) -> int | None:
        """The queue's redrive `maxReceiveCount`: a batch failing on that receive is dead-lettered by the processor
        (and counted on its campaign) rather than by SQS on the next receive. None: no redrive policy read."""
        try:
            attributes = await self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
            return int(json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
        except (ClientError, BotoCoreError, KeyError, ValueError) as exc:
            log.warning("processor.redrive_policy_unknown", error=str(exc))
            return None

    async def _sample_quota(self) -> None:
        if self._ses_quota is not None and (ratio := await self._ses_quota()) is not None:
            SES_QUOTA_USED.set(ratio)

    def _samplers(self, queues: dict[str, str]) -> list[asyncio.Task[None]]:
        settings = self._settings
        samplers = [
            sample_every(
                lambda: sample_queue_depth(self._sqs, queues),
                interval=settings.queue_depth_interval,
                stopping=self._stopping,
                name="queue_depth",
            )
        ]
        if self._ses_quota is not None:
            samplers.append(
                sample_every(
                    self._sample_quota, interval=settings.ses_quota_interval, stopping=self._stopping, name="ses_quota"
                )
            )
        return [asyncio.create_task(sampler) for sampler in samplers]

    async def run(self) -> None:
        queues = await self._queue_urls()
        if queues is None:
            return
        settings = self._settings
        # Every priority's queue is provisioned with the same redrive policy: the normal one speaks for all.
        max_receives = await self._max_receive_count(queues.by_priority[DEFAULT_PRIORITY])
        handler = EmailJobHandler(
            self._service,
            self._sqs,
            queues.by_priority,
            requeue_after_receives=settings.requeue_after_receives,
            max_receive_count=max_receives,
        )
        self._poller = SqsPoller(
            self._sqs,
            queues.polled,
            handler,
            concurrency=settings.concurrency,
            visibility_timeout=settings.visibility_timeout,
            handler_timeout=settings.handler_timeout,
            retry_policy=functools.partial(retry_policy, max_receive_count=max_receives),
            shutdown_grace=SHUTDOWN_GRACE_SECONDS,
            name="email-jobs",
            idle_wait=settings.idle_poll_seconds,
        )
        if self._stopping.is_set():
            return
        samplers = self._samplers(queues.depth)
        try:
            await self._poller.run()
        finally:
            self._stopping.set()
            for sampler in samplers:
                sampler.cancel()
            await asyncio.gather(*samplers, return_exceptions=True)
