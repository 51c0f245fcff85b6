"""The one SQS consumer both workers use (processor: email jobs; analytics: SES events).

Long polling, a bounded number of messages in flight, each handled under a timeout shorter than what the heartbeat
keeps extending, deleted only after its handler succeeded; on stop it receives nothing more, lets in-flight work
finish within a grace period and releases what is left back to the queue.

One poller may read several queues in priority order (the processor's high / normal / low email jobs): each receive
fills the free slots from the highest-priority queue first and only then from the next, with short polls, so a lower
queue is read only while every higher one answered empty; when all are empty it long-polls, for `idle_wait` seconds,
the queue it last received from (at first the highest: a campaign whose batches come back after a delay or a
throttle is picked up the moment they are visible again), and starts over. It never receives more messages than it
has free slots, so nothing waits in memory and nothing is handed back (a hand-back would count towards the
dead-letter queue's receive limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("herald.sqs")

# SQS limits (AWS SQS developer guide, "Quotas"): at most 10 messages per ReceiveMessage/SendMessageBatch call,
# long polling waits at most 20 s, visibility timeout at most 12 hours. A message, and the sum of a SendMessageBatch's
# messages, at most 256 KiB (the limit moto and older AWS accounts enforce; AWS's newer 1 MiB is not relied on).
SQS_MAX_BATCH = 10
SQS_MAX_BATCH_BYTES = 256 * 1024
SQS_MAX_WAIT_SECONDS = 20
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600


def group_messages(
    messages: Iterable[tuple[str, str]], *, max_count: int = SQS_MAX_BATCH, max_bytes: int = SQS_MAX_BATCH_BYTES
) -> Iterator[list[tuple[str, str]]]:
    """(id, body) messages grouped for SendMessageBatch: at most `max_count` per call and `max_bytes` in total."""
    group: list[tuple[str, str]] = []
    size = 0
    for message in messages:
        length = len(message[1].encode())
        if length > max_bytes:
            raise ValueError(f"a message of {length} bytes exceeds the {max_bytes}-byte limit")
        if group and (len(group) == max_count or size + length > max_bytes):
            yield group
            group, size = [], 0
        group.append(message)
        size += length
    if group:
        yield group


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    attributes: dict[str, str] = field(default_factory=dict)
    queue_url: str = ""  # the queue it came from (heartbeat, delete and release go back there)


@dataclass(frozen=True)
class PolledQueue:
    """One queue a poller reads, with the dead-letter queue its poison messages are moved to."""

    url: str
    dead_letter_url: str | None = None


@dataclass(frozen=True)
class Delete:
    """The message is done with (handled, or not worth another try): delete it."""


@dataclass(frozen=True)
class RetryAfter:
    """Make the message visible again after `seconds`."""

    seconds: int


@dataclass(frozen=True)
class DeadLetter:
    """Move the message to the dead-letter queue now."""

    reason: str


RetryAction = Delete | RetryAfter | DeadLetter


class RetryPolicy(Protocol):
    def __call__(self, error: BaseException, receive_count: int) -> RetryAction: ...


def exponential_backoff(receive_count: int, *, base: float = 2.0, cap: float = 300.0) -> int:
    """Full-jitter exponential backoff in whole seconds (at least 1)."""
    ceiling = min(cap, base * 2 ** max(receive_count - 1, 0))
    return max(1, int(random.uniform(0, ceiling)))


def default_retry_policy(error: BaseException, receive_count: int) -> RetryAction:  # noqa: ARG001
    """Retry with backoff; the queue's redrive policy dead-letters after its maxReceiveCount."""
    return RetryAfter(exponential_backoff(receive_count))


class BatchDeleter:
    """Deletes handled messages ten at a time (one DeleteMessageBatch call instead of ten DeleteMessage calls).

    A handled message waits at most `linger` seconds for others to share its call. If the process dies first, the
    message becomes visible again and is handled a second time: every Herald handler is idempotent.
    """

    def __init__(self, sqs: SQSClient, queue_url: str, *, linger: float = 0.05, name: str = "sqs") -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._linger = linger
        self._name = name
        self._pending: list[str] = []
        self._flusher: asyncio.Task[None] | None = None

    async def delete(self, receipt_handle: str) -> None:
        self._pending.append(receipt_handle)
        if len(self._pending) >= SQS_MAX_BATCH:
            await self.flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._linger)
        await self.flush()

    async def drain(self) -> None:
        """Every delete asked for so far is done: the lingering flush may hold a batch in its call (it took the batch
        off `_pending`), so it is waited for before the rest is flushed."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self.flush()

    async def flush(self) -> None:
        while self._pending:
            chunk, self._pending = self._pending[:SQS_MAX_BATCH], self._pending[SQS_MAX_BATCH:]
            entries = [{"Id": str(n), "ReceiptHandle": handle} for n, handle in enumerate(chunk)]
            try:
                response = await self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as exc:
                log.warning("sqs.delete_failed", poller=self._name, messages=len(chunk), error=str(exc))
                continue
            for failure in response.get("Failed", []):
                log.warning("sqs.delete_failed", poller=self._name, code=failure.get("Code"))


class MessageHandler(Protocol):
    async def __call__(self, message: SqsMessage) -> None: ...


class SqsPoller:
    """Receive, handle, delete. One instance per queue (or per priority-ordered list of queues) per process."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str | Sequence[PolledQueue],
        handler: MessageHandler,
        *,
        concurrency: int = 4,
        visibility_timeout: int = 60,
        handler_timeout: float = 300.0,
        wait_time: int = SQS_MAX_WAIT_SECONDS,
        retry_policy: RetryPolicy = default_retry_policy,
        dead_letter_url: str | None = None,
        shutdown_grace: float = 20.0,
        name: str = "sqs",
        on_receive: Callable[[int], Awaitable[None] | None] | None = None,
        idle_wait: int = 1,
    ) -> None:
        """`queue_url`: one queue (with `dead_letter_url`), or several `PolledQueue`s, highest priority first."""
        self._sqs = sqs
        if isinstance(queue_url, str):
            queue_url = [PolledQueue(queue_url, dead_letter_url)]
        if not queue_url:
            raise ValueError("a poller needs at least one queue")
        self._queues = tuple(queue_url)
        self._idle_wait = min(max(idle_wait, 1), SQS_MAX_WAIT_SECONDS)
        self._last_active = self._queues[0].url
        self._handler = handler
        self._concurrency = max(1, concurrency)
        self._visibility = min(visibility_timeout, SQS_MAX_VISIBILITY_SECONDS)
        self._handler_timeout = handler_timeout
        self._wait = min(wait_time, SQS_MAX_WAIT_SECONDS)
        self._retry_policy = retry_policy
        self._grace = shutdown_grace
        self._name = name
        self._on_receive = on_receive
        self._slots = asyncio.Semaphore(self._concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._deleters = {q.url: BatchDeleter(sqs, q.url, name=name) for q in self._queues}
        self._dead_letters = {q.url: q.dead_letter_url for q in self._queues}

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def stop(self) -> None:
        """Stop receiving; `run` returns once in-flight messages are finished or released."""
        self._stopping.set()

    async def run(self) -> None:
        log.info("sqs.poller_started", poller=self._name, concurrency=self._concurrency)
        errors = 0
        while not self._stopping.is_set():
            await self._wait_for_slot()
            if self._stopping.is_set():
                break
            try:
                messages = await self._receive_round()
                errors = 0
            except (ClientError, BotoCoreError, OSError) as exc:
                errors += 1
                delay = min(30.0, 0.5 * 2**errors)
                log.warning("sqs.receive_failed", poller=self._name, error=str(exc), retry_in=delay)
                await self._sleep_unless_stopping(delay)
                continue
            if self._on_receive is not None:
                result = self._on_receive(len(messages))
                if asyncio.iscoroutine(result):
                    await result
            await self._start(messages)
        await self._drain()
        log.info("sqs.poller_stopped", poller=self._name)

    async def _receive_round(self) -> list[SqsMessage]:
        """One round of receives: at most as many messages as there are free slots."""
        free = self._concurrency - len(self._in_flight)
        return await self._receive(min(SQS_MAX_BATCH, max(free, 1)))

    async def _start(self, messages: list[SqsMessage]) -> None:
        """Hand each message to the handler in a task of its own, one slot each."""
        for message in messages:
            await self._slots.acquire()
            self._track(asyncio.create_task(self._handle(message), name=f"{self._name}:{message.message_id}"))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _wait_for_slot(self) -> None:
        # Wait until at least one slot is free before polling, so we never hold messages we cannot start.
        await self._slots.acquire()
        self._slots.release()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _receive(self, count: int, wait: int | None = None) -> list[SqsMessage]:
        if len(self._queues) == 1:
            return await self._receive_from(self._queues[0].url, count, self._wait if wait is None else wait)
        # Priority order: short polls, highest queue first, the next one only for the slots still free. A queue that
        # cannot be read is passed over this round (the others keep going); all of them failing is a receive error.
        messages: list[SqsMessage] = []
        failures: list[Exception] = []
        for queue in self._queues:
            if self._stopping.is_set():
                return messages
            try:
                received = await self._receive_from(queue.url, count - len(messages), 0)
            except (ClientError, BotoCoreError, OSError) as exc:
                log.warning("sqs.receive_failed", poller=self._name, queue=queue.url, error=str(exc))
                failures.append(exc)
                continue
            if received:
                messages += received
                self._last_active = queue.url
            if len(messages) >= count:
                return messages
        if messages:
            return messages
        if len(failures) == len(self._queues):
            raise failures[0]
        # Every queue is empty: wait briefly on the one that last had work, then look at all of them again.
        return await self._receive_from(self._last_active, count, self._idle_wait if wait is None else wait)

    async def _receive_from(self, queue_url: str, count: int, wait: int) -> list[SqsMessage]:
        receive = self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            VisibilityTimeout=self._visibility,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        # A stop request interrupts the long poll; anything received in that instant becomes visible again later.
        stop = asyncio.create_task(self._stopping.wait())
        receive_task = asyncio.ensure_future(receive)
        done, _ = await asyncio.wait({stop, receive_task}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if receive_task not in done:
            receive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientError, BotoCoreError):
                await receive_task
            return []
        response: dict[str, Any] = dict(receive_task.result())
        return [
            SqsMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                attributes=dict(m.get("Attributes", {})),
                queue_url=queue_url,
            )
            for m in response.get("Messages", [])
        ]

    async def _heartbeat(self, message: SqsMessage) -> None:
        # Keep the message invisible while its handler runs longer than a third of the visibility timeout.
        interval = max(1.0, self._visibility / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._sqs.change_message_visibility(
                    QueueUrl=self._url_of(message),
                    ReceiptHandle=message.receipt_handle,
                    VisibilityTimeout=self._visibility,
                )
            except (ClientError, BotoCoreError) as exc:
                log.warning("sqs.heartbeat_failed", poller=self._name, error=str(exc))

    async def _handle(self, message: SqsMessage) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(message))
        try:
            async with asyncio.timeout(self._handler_timeout):
                await self._handler(message)
        except asyncio.CancelledError:
            await self._settle(message, RetryAfter(0))  # released at shutdown: someone else takes it now
            raise
        except Exception as exc:
            await self._settle_failure(message, exc)
        else:
            await self._settle(message, Delete())
        finally:
            heartbeat.cancel()
            self._slots.release()

    async def _settle_failure(self, message: SqsMessage, error: BaseException) -> None:
        """Settle a message whose handling failed as the retry policy says, and log why."""
        action = self._retry_policy(error, message.receive_count)
        log.warning(
            "sqs.message_failed",
            poller=self._name,
            message_id=message.message_id,
            receive_count=message.receive_count,
            error=repr(error),
            action=type(action).__name__,
        )
        await self._settle(message, action)

    def _url_of(self, message: SqsMessage) -> str:
        return message.queue_url or self._queues[0].url

    async def _settle(self, message: SqsMessage, action: RetryAction) -> None:
        url = self._url_of(message)
        dead_letter_url = self._dead_letters.get(url)
        try:
            if isinstance(action, Delete):
                await self._deleters[url].delete(message.receipt_handle)
            elif isinstance(action, RetryAfter):
                await self._sqs.change_message_visibility(
                    QueueUrl=url,
                    ReceiptHandle=message.receipt_handle,
                    VisibilityTimeout=min(max(action.seconds, 0), SQS_MAX_VISIBILITY_SECONDS),
                )
            elif dead_letter_url is not None:
                await self._sqs.send_message(
                    QueueUrl=dead_letter_url,
                    MessageBody=message.body,
                    MessageAttributes={"reason": {"DataType": "String", "StringValue": action.reason[:256]}},
                )
                await self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
        except (ClientError, BotoCoreError) as exc:
            # The message becomes visible again when its timeout runs out: nothing is lost.
            log.warning("sqs.settle_failed", poller=self._name, action=type(action).__name__, error=str(exc))

    async def _drain(self) -> None:
        await self._drain_in_flight()
        for deleter in self._deleters.values():
            await deleter.drain()

    async def _drain_in_flight(self) -> None:
        if not self._in_flight:
            return
        log.info("sqs.draining", poller=self._name, in_flight=len(self._in_flight), grace=self._grace)
        _, pending = await asyncio.wait(set(self._in_flight), timeout=self._grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
