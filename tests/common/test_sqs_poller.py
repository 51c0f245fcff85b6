"""herald_common.sqs.SqsPoller against the emulator's SQS: delete only after success, retry a failure, drain on stop."""

from __future__ import annotations

import asyncio
import time

from herald_common.sqs import (
    BatchDeleter,
    DeadLetter,
    Delete,
    PolledQueue,
    RetryAfter,
    SqsPoller,
    exponential_backoff,
)


async def queue_depth(sqs, url: str) -> tuple[int, int]:
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    values = attrs["Attributes"]
    return int(values["ApproximateNumberOfMessages"]), int(values["ApproximateNumberOfMessagesNotVisible"])


async def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_handled_messages_are_deleted_only_after_success(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    for body in ("a", "b", "c"):
        await aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    handled: list[str] = []
    release = asyncio.Event()
    depth_while_handling: list[tuple[int, int]] = []

    async def handler(message):
        if message.body == "a":
            depth_while_handling.append(await queue_depth(aws.sqs, url))
            await release.wait()
        handled.append(message.body)

    poller = SqsPoller(aws.sqs, url, handler, concurrency=4, wait_time=1, visibility_timeout=30)
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: bool(depth_while_handling))
    # While "a" is being handled it is in flight, not deleted.
    assert depth_while_handling[0][1] >= 1
    release.set()
    await wait_for(lambda: len(handled) == 3)
    poller.stop()
    await asyncio.wait_for(task, 5)
    assert sorted(handled) == ["a", "b", "c"]
    assert await queue_depth(aws.sqs, url) == (0, 0)


async def test_draining_the_deleter_waits_for_the_batch_its_lingering_flush_is_deleting(provisioned, aws):
    # A stopping poller drains its deleters: a batch the lingering flush already took is in its DeleteMessageBatch
    # call, and the drain must wait for it (else the process exits with those messages in flight: handled twice).
    url = provisioned.email_jobs_queue_url
    await aws.sqs.send_message(QueueUrl=url, MessageBody="done")
    (message,) = (await aws.sqs.receive_message(QueueUrl=url, VisibilityTimeout=30))["Messages"]
    deleter = BatchDeleter(aws.sqs, url, linger=0)
    await deleter.delete(message["ReceiptHandle"])
    while deleter._pending:  # the lingering flush takes the batch and starts its call
        await asyncio.sleep(0)
    await deleter.drain()
    assert deleter._flusher is not None
    assert deleter._flusher.done(), "drained while a delete call was still out"
    assert await queue_depth(aws.sqs, url) == (0, 0)


async def test_a_failed_message_becomes_visible_again_and_is_retried(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await aws.sqs.send_message(QueueUrl=url, MessageBody="flaky")
    attempts: list[int] = []

    async def handler(message):
        attempts.append(message.receive_count)
        if len(attempts) == 1:
            raise RuntimeError("transient")

    poller = SqsPoller(
        aws.sqs, url, handler, wait_time=1, visibility_timeout=30, retry_policy=lambda _error, _count: RetryAfter(0)
    )
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: len(attempts) == 2)
    poller.stop()
    await asyncio.wait_for(task, 5)
    assert attempts == [1, 2]
    assert await queue_depth(aws.sqs, url) == (0, 0)


async def test_stop_lets_in_flight_work_finish_and_receives_nothing_more(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await aws.sqs.send_message(QueueUrl=url, MessageBody="slow")
    started = asyncio.Event()
    finished: list[str] = []

    async def handler(message):
        started.set()
        await asyncio.sleep(0.3)
        finished.append(message.body)

    poller = SqsPoller(aws.sqs, url, handler, wait_time=1, visibility_timeout=30, shutdown_grace=5)
    task = asyncio.create_task(poller.run())
    await asyncio.wait_for(started.wait(), 5)
    poller.stop()
    await aws.sqs.send_message(QueueUrl=url, MessageBody="after-stop")
    await asyncio.wait_for(task, 5)
    assert finished == ["slow"]
    assert poller.in_flight == 0
    # The finished message was deleted; the one sent after stop is still waiting for the next consumer.
    visible, in_flight = await queue_depth(aws.sqs, url)
    assert visible + in_flight == 1


async def test_work_unfinished_within_the_grace_period_is_released(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await aws.sqs.send_message(QueueUrl=url, MessageBody="stuck")
    started = asyncio.Event()

    async def handler(message):
        started.set()
        await asyncio.sleep(30)

    poller = SqsPoller(aws.sqs, url, handler, wait_time=1, visibility_timeout=30, shutdown_grace=0.2)
    task = asyncio.create_task(poller.run())
    await asyncio.wait_for(started.wait(), 5)
    poller.stop()
    await asyncio.wait_for(task, 5)
    # Released with visibility 0: another consumer can take it at once.
    assert await queue_depth(aws.sqs, url) == (1, 0)


def test_backoff_stays_within_its_bounds():
    assert all(1 <= exponential_backoff(n, base=2, cap=10) <= 10 for n in range(1, 30))
    assert isinstance(Delete(), Delete)


async def test_priority_queues_are_read_highest_first_and_each_message_settles_on_its_own_queue(provisioned, aws):
    """Three queues in priority order, filled lowest first: with one slot, every high message is handled before any
    normal one and every normal before any low one; a poison message goes to its own queue's dead-letter queue."""
    urls = provisioned.email_jobs_queue_urls
    dlqs = provisioned.email_jobs_dlq_urls
    for priority in ("low", "normal", "high"):
        for n in range(3):
            await aws.sqs.send_message(QueueUrl=urls[priority], MessageBody=f"{priority}-{n}")
    await aws.sqs.send_message(QueueUrl=urls["normal"], MessageBody="normal-poison")
    handled: list[str] = []

    async def handler(message):
        handled.append(message.body)
        if message.body == "normal-poison":
            raise RuntimeError("poison")
        if message.body == "high-0":  # a high batch that arrives while normal ones wait still goes first
            await aws.sqs.send_message(QueueUrl=urls["high"], MessageBody="high-late")

    poller = SqsPoller(
        aws.sqs,
        [PolledQueue(urls[p], dlqs[p]) for p in ("high", "normal", "low")],
        handler,
        concurrency=1,
        visibility_timeout=30,
        retry_policy=lambda _error, _count: DeadLetter("poison"),
    )
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: len(handled) == 11, timeout=15)
    poller.stop()
    await asyncio.wait_for(task, 5)
    rank = {"high": 0, "normal": 1, "low": 2}
    ranks = [rank[body.split("-")[0]] for body in handled]
    assert ranks == sorted(ranks), handled
    assert handled.index("high-late") < min(handled.index(f"normal-{n}") for n in range(3))
    for priority in ("high", "normal", "low"):
        assert await queue_depth(aws.sqs, urls[priority]) == (0, 0)
    dead = await aws.sqs.receive_message(QueueUrl=dlqs["normal"], WaitTimeSeconds=1)
    assert [m["Body"] for m in dead["Messages"]] == ["normal-poison"]
    assert await queue_depth(aws.sqs, dlqs["high"]) == (0, 0)


async def test_an_idle_priority_poller_picks_up_a_low_message_within_its_idle_wait(provisioned, aws, monkeypatch):
    urls = provisioned.email_jobs_queue_urls
    handled: list[int] = []
    # Every receive the poller makes (against the emulator), with its long-poll wait: how long a message can sit
    # unseen follows from these waits, whatever the load on the machine does to the wall clock.
    receives: list[tuple[str, int]] = []
    receive = aws.sqs.receive_message

    async def counted_receive(**kwargs):
        receives.append((kwargs["QueueUrl"], kwargs.get("WaitTimeSeconds", 0)))
        return await receive(**kwargs)

    monkeypatch.setattr(aws.sqs, "receive_message", counted_receive)

    async def handler(message):
        handled.append(len(receives))

    poller = SqsPoller(
        aws.sqs, [PolledQueue(urls[p]) for p in ("high", "normal", "low")], handler, concurrency=2, idle_wait=1
    )
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: len(receives) >= 6, timeout=30)  # idle: every queue found empty, twice
    sent = len(receives)
    await aws.sqs.send_message(QueueUrl=urls["low"], MessageBody="late")
    await wait_for(lambda: bool(handled), timeout=30)
    poller.stop()
    await asyncio.wait_for(task, 30)
    # Idle, the poller long-polls for at most its idle wait, and each of its two receive loops reaches the low queue
    # within one round of the three queues (plus the receive under way when the message came).
    assert {wait for _, wait in receives[3:]} <= {0, 1}
    assert handled[0] - sent <= 2 * (3 + 1)
