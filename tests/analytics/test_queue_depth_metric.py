"""The analytics service samples herald_queue_depth for its ses-events queue and that queue's dead-letter queue."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client import REGISTRY

from herald_analytics.config import Settings

if TYPE_CHECKING:
    from tests.analytics.conftest import Harness

pytestmark = pytest.mark.timeout(30)


async def test_the_running_service_exports_its_queue_depths(harness: Harness) -> None:
    names = harness.settings.resources
    dlq = names.dead_letter_queue(names.ses_events_queue)
    for n in range(2):
        await harness.aws.require_sqs().send_message(
            QueueUrl=harness.provisioned.ses_events_dlq_url, MessageBody=f"{n}"
        )
    settings = harness.settings.model_copy(update={"analytics_queue_depth_interval": 0.1})
    assert isinstance(settings, Settings)
    async with harness.running(settings) as app:
        deadline = time.monotonic() + 10
        while REGISTRY.get_sample_value("herald_queue_depth", {"queue": dlq}) != 2:
            assert time.monotonic() < deadline, "the dead-letter queue's depth was never sampled"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://analytics") as client:
            metrics = (await client.get("/metrics")).text
    assert f'herald_queue_depth{{queue="{dlq}"}} 2.0' in metrics
    assert f'herald_queue_depth{{queue="{names.ses_events_queue}"}}' in metrics
