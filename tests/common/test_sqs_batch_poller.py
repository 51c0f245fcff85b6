"""herald_common.sqs_batch.SqsBatchPoller against the emulator's SQS: batches of several receives, each message
settled by its own result, released on stop."""

from __future__ import annotations

import asyncio

from herald_common.sqs import DeadLetter, RetryAfter
from herald_common.sqs_batch import SqsBatchPoller
from tests.common.test_sqs_poller import queue_depth, wait_for


async def _send(sqs, url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + 10])]
        await sqs.send_message_batch(QueueUrl=url, Entries=entries)


async def test_a_full_queue_is_taken_in_batches_of_several_receives(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await _send(aws.sqs, url, [f"m{n}" for n in range(45)])
    sizes: list[int] = []
    seen: list[str] = []

    async def handler(messages):
        sizes.append(len(messages))
        seen.extend(m.body for m in messages)
        return [None] * len(messages)

    poller = SqsBatchPoller(aws.sqs, url, handler, receives=3, concurrency=1, wait_time=1, visibility_timeout=30)
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: len(seen) >= 45, timeout=15)
    poller.stop()
    await asyncio.wait_for(task, 10)
    assert sorted(seen) == sorted(f"m{n}" for n in range(45))
    assert max(sizes) == 30  # three receives of 10 shared one batch
    assert sum(sizes) == 45
    assert await queue_depth(aws.sqs, url) == (0, 0)


async def test_each_message_is_settled_by_its_own_result(provisioned, aws):
    url, dlq = provisioned.email_jobs_queue_url, provisioned.email_jobs_dlq_url
    await _send(aws.sqs, url, ["ok", "retry", "poison"])
    attempts: list[str] = []

    async def handler(messages):
        attempts.extend(m.body for m in messages)
        results: list[BaseException | None] = []
        for message in messages:
            if message.body == "poison":
                results.append(ValueError("poison"))
            elif message.body == "retry" and attempts.count("retry") == 1:
                results.append(RuntimeError("transient"))
            else:
                results.append(None)
        return results

    def policy(error: BaseException, _count: int):
        return DeadLetter(str(error)) if isinstance(error, ValueError) else RetryAfter(0)

    poller = SqsBatchPoller(
        aws.sqs,
        url,
        handler,
        concurrency=2,
        wait_time=1,
        visibility_timeout=30,
        retry_policy=policy,
        dead_letter_url=dlq,
    )
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: attempts.count("retry") == 2, timeout=15)
    poller.stop()
    await asyncio.wait_for(task, 10)
    assert attempts.count("ok") == 1
    assert attempts.count("poison") == 1
    assert await queue_depth(aws.sqs, url) == (0, 0)
    dead = await aws.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert [m["Body"] for m in dead["Messages"]] == ["poison"]


async def test_a_batch_that_raises_or_times_out_is_retried_whole(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await _send(aws.sqs, url, ["a", "b"])
    calls: list[list[str]] = []

    async def handler(messages):
        calls.append(sorted(m.body for m in messages))
        if len(calls) == 1:
            await asyncio.sleep(5)  # beyond the handler timeout
        return [None] * len(messages)

    poller = SqsBatchPoller(
        aws.sqs, url, handler, wait_time=1, visibility_timeout=30, handler_timeout=0.5,
        retry_policy=lambda _error, _count: RetryAfter(0),
    )  # fmt: skip
    task = asyncio.create_task(poller.run())
    await wait_for(lambda: sum(len(c) for c in calls) >= 4, timeout=15)
    poller.stop()
    await asyncio.wait_for(task, 10)
    assert sorted(b for c in calls for b in c) == ["a", "a", "b", "b"]
    assert await queue_depth(aws.sqs, url) == (0, 0)


async def test_stop_releases_a_batch_still_in_flight(provisioned, aws):
    url = provisioned.email_jobs_queue_url
    await _send(aws.sqs, url, ["slow"])
    started = asyncio.Event()

    async def handler(messages):
        started.set()
        await asyncio.sleep(60)
        return [None] * len(messages)

    poller = SqsBatchPoller(aws.sqs, url, handler, wait_time=1, visibility_timeout=30, shutdown_grace=0.2)
    task = asyncio.create_task(poller.run())
    await asyncio.wait_for(started.wait(), 10)
    poller.stop()
    await asyncio.wait_for(task, 10)
    assert await queue_depth(aws.sqs, url) == (1, 0)  # visible again at once: another consumer takes it now
