"""herald_common.sqs.SqsPoller against the emulator's SQS: delete only after success, retry a failure, drain on stop."""

from __future__ import annotations

import asyncio
import time

from herald_common.sqs import Delete, RetryAfter, SqsPoller, exponential_backoff


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
