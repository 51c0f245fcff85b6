"""herald_common.metrics' background samplers: queue depths read from SQS, failures skipped, a clean stop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import REGISTRY

from herald_common.metrics import QUEUE_DEPTH, sample_every, sample_queue_depth

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.provisioning import Provisioned
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(30)


def depth(queue: str) -> float | None:
    return REGISTRY.get_sample_value("herald_queue_depth", {"queue": queue})


async def test_queue_depth_is_the_number_of_messages_waiting_in_each_queue(
    herald_settings: HeraldSettings, provisioned: Provisioned, aws: AwsClients
) -> None:
    names = herald_settings.resources
    dlq = names.dead_letter_queue(names.ses_events_queue)
    for n in range(3):
        await aws.require_sqs().send_message(QueueUrl=provisioned.ses_events_queue_url, MessageBody=f"m{n}")
    queues = {names.ses_events_queue: provisioned.ses_events_queue_url, dlq: provisioned.ses_events_dlq_url}
    await sample_queue_depth(aws.require_sqs(), queues)
    assert (depth(names.ses_events_queue), depth(dlq)) == (3, 0)


async def test_a_failing_sample_is_skipped_and_the_next_one_runs_until_stopped() -> None:
    stopping = asyncio.Event()
    attempts: list[int] = []
    failures = [
        ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetQueueAttributes"),
        EndpointConnectionError(endpoint_url="http://aws"),
    ]

    async def sample() -> None:
        attempts.append(len(attempts))
        if failures:
            raise failures.pop(0)
        QUEUE_DEPTH.labels("sampler-test").set(len(attempts))
        if len(attempts) == 4:
            stopping.set()

    await asyncio.wait_for(sample_every(sample, interval=0.01, stopping=stopping, name="test"), timeout=5)
    assert len(attempts) == 4
    assert depth("sampler-test") == 4


async def test_a_stop_ends_the_wait_between_samples_at_once() -> None:
    stopping = asyncio.Event()
    samples: list[None] = []

    async def sample() -> None:
        samples.append(None)

    task = asyncio.create_task(sample_every(sample, interval=3600, stopping=stopping, name="test"))
    while not samples:  # the first sample is taken at once; then it waits out the hour
        await asyncio.sleep(0.01)
    stopping.set()
    await asyncio.wait_for(task, timeout=1)
    assert len(samples) == 1
