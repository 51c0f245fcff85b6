"""Prometheus metrics with the names SPEC.md fixes, defined once so every service exposes the same names, and the
small background samplers that keep the gauges fed from AWS (queue depths, SES quota)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("herald.metrics")

EMAILS = Counter("herald_emails_total", "Emails by outcome", ["result"])
BATCHES = Counter("herald_batches_total", "Email-job batches by outcome", ["result"])
QUEUE_DEPTH = Gauge("herald_queue_depth", "Approximate messages waiting in a queue", ["queue"])
SES_EVENTS = Counter("herald_ses_events_total", "SES events ingested by type", ["type"])
SEND_DURATION = Histogram(
    "herald_send_duration_seconds",
    "Time of one SES send call",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUESTS = Counter("herald_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "herald_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SES_QUOTA_USED = Gauge(
    "herald_ses_quota_used_ratio", "Share of the 24-hour SES sending quota used (SentLast24Hours / Max24HourSend)"
)
# Adaptive pacing (processor): each mailbox provider's current share of the sending policy, and the rate it gives.
PROVIDER_RATE_FACTOR = Gauge(
    "herald_provider_rate_factor",
    "Share of the sending policy's rate a provider gets now (AIMD)",
    ["tenant", "provider"],
)
PROVIDER_RATE = Gauge(
    "herald_provider_rate_per_minute",
    "Emails per minute a provider may get now across the fleet (policy limit × factor)",
    ["tenant", "provider"],
)
# Daily pacing (processor): the rate that spreads what is left of a daily allowance (`account`: SES's daily quota;
# `warmup:{domain}`: the ramp's day) over the rest of the day; 0 while a campaign fits in what is left.
DAILY_PACE = Gauge(
    "herald_daily_pace_per_minute",
    "Emails per minute a daily allowance is spread at across the fleet (0: not pacing)",
    ["tenant", "scope"],
)
# The reputation guard (analytics): warnings raised when a window reaches half a limit.
REPUTATION_WARNINGS = Counter(
    "herald_reputation_warnings_total", "Reputation warnings raised (a window at half a limit)", ["window"]
)

SAMPLE_ERRORS = (ClientError, BotoCoreError, OSError, KeyError, ValueError)


async def sample_queue_depth(sqs: SQSClient, queues: Mapping[str, str]) -> None:
    """Set `herald_queue_depth{queue}` from ApproximateNumberOfMessages of each (queue name → url)."""
    for name, url in queues.items():
        attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        QUEUE_DEPTH.labels(name).set(int(attributes.get("Attributes", {}).get("ApproximateNumberOfMessages", "0")))


async def sample_every(
    sample: Callable[[], Awaitable[None]], *, interval: float, stopping: asyncio.Event, name: str
) -> None:
    """Run `sample` now and then every `interval` seconds until `stopping` is set. A failed sample (AWS unreachable,
    an odd answer) is logged at debug and skipped: the gauge keeps its last value and the next sample tries again."""
    while not stopping.is_set():
        try:
            await sample()
        except SAMPLE_ERRORS as exc:
            log.debug("metrics.sample_failed", sampler=name, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
