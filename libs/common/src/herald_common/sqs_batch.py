"""The SQS consumer for handlers that work on many messages at once (analytics: SES events).

Same discipline as `SqsPoller` (bounded work in flight, a timeout shorter than what the heartbeat keeps extending,
delete only after success, release on stop), but the unit of work is a batch: up to `receives` ReceiveMessage calls
of 10 messages each (the first a long poll, the others only while the queue keeps answering full), handed to the
handler together so it can share its AWS calls among them. The handler answers one result per message (None for
done, the exception otherwise), and each message is settled on its own by the retry policy.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.sqs import SQS_MAX_BATCH, Delete, RetryAfter, SqsMessage, SqsPoller

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("herald.sqs")


class BatchHandler(Protocol):
    async def __call__(self, messages: list[SqsMessage]) -> list[BaseException | None]:
        """One result per message, in order: None when it is done with, else why it failed."""


async def _unused(message: SqsMessage) -> None:  # pragma: no cover (the batch poller never calls it)
    raise NotImplementedError


class SqsBatchPoller(SqsPoller):
    """Receive up to `receives` × 10 messages, handle them as one batch, settle each. `concurrency` counts batches."""

    def __init__(
        self, sqs: SQSClient, queue_url: str, handler: BatchHandler, *, receives: int = 3, **options: Any
    ) -> None:
        super().__init__(sqs, queue_url, _unused, **options)
        self._batch_handler = handler
        self._receives = max(1, receives)

    async def _receive_round(self) -> list[SqsMessage]:
        return await self._receive_batch()

    async def _start(self, messages: list[SqsMessage]) -> None:
        """The whole round as one batch, in one task and one slot."""
        if not messages:
            return
        await self._slots.acquire()
        self._track(asyncio.create_task(self._handle_batch(messages), name=f"{self._name}:batch"))

    async def _receive_batch(self) -> list[SqsMessage]:
        messages = await self._receive(SQS_MAX_BATCH)
        # A full answer means more are waiting: take them now (no wait) so they share the batch's calls.
        while len(messages) % SQS_MAX_BATCH == 0 and 0 < len(messages) < self._receives * SQS_MAX_BATCH:
            more = await self._receive(SQS_MAX_BATCH, wait=0)
            if not more:
                break
            messages += more
        return messages

    async def _batch_heartbeat(self, messages: list[SqsMessage]) -> None:
        interval = max(1.0, self._visibility / 3)
        while True:
            await asyncio.sleep(interval)
            for start in range(0, len(messages), SQS_MAX_BATCH):
                entries: list[Any] = [
                    {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": self._visibility}
                    for n, m in enumerate(messages[start : start + SQS_MAX_BATCH])
                ]
                try:
                    await self._sqs.change_message_visibility_batch(
                        QueueUrl=self._url_of(messages[start]), Entries=entries
                    )
                except (ClientError, BotoCoreError) as exc:
                    log.warning("sqs.heartbeat_failed", poller=self._name, error=str(exc))

    async def _handle_batch(self, messages: list[SqsMessage]) -> None:
        heartbeat = asyncio.create_task(self._batch_heartbeat(messages))
        try:
            async with asyncio.timeout(self._handler_timeout):
                results = await self._batch_handler(messages)
            if len(results) != len(messages):
                raise RuntimeError(f"batch handler answered {len(results)} results for {len(messages)} messages")
        except asyncio.CancelledError:
            for message in messages:
                await self._settle(message, RetryAfter(0))  # released at shutdown: someone else takes them now
            raise
        except Exception as exc:
            results = [exc] * len(messages)
        finally:
            heartbeat.cancel()
            self._slots.release()
        for message, error in zip(messages, results, strict=True):
            if error is None:
                await self._settle(message, Delete())
            else:
                await self._settle_failure(message, error)
