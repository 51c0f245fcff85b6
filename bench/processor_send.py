"""Processor CPU per email, against the raw SES client's CPU per call in the same run (issue 3, benchmark a).

The batch service runs in this process, as the processor runs it (ledger claims and marks, counting, suppression
check, MIME building, the SES call), with DynamoDB and S3 in an emulator subprocess and SES v2 pointed at the
instant stub. The template service is an in-process stand-in (httpx.MockTransport) whose own CPU is measured and
left out, so what is counted of rendering is the processor's HTTP client only. Not measured: SQS receive/delete (one
each per batch of 50). The ratio divides the processor's CPU-seconds per email by a plain `send_email` loop's
CPU-seconds per call, that loop run just before and just after the processor (their mean: on a shared machine the
cost of a call drifts by tens of percent within a minute, and both sides of the ratio should see the same drift).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from herald_cli.stack import DevStack
from herald_common.aws import AwsClients, open_clients
from herald_common.settings import HeraldSettings
from herald_processor.app import CLIENT_PARAMETER_VALIDATION, build_service, use_fast_json
from herald_processor.config import Settings
from herald_processor.schemas import parse_job
from herald_processor.templates import template_key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bench.run import BenchContext
    from herald_processor.service import BatchService

EMAILS = 1000
BATCH = 50
CONCURRENT_BATCHES = 4
TENANT = "bench"
TARGET_RATIO = 1.5


class RenderStandIn:
    """The template service's answer, made in this process (httpx.MockTransport): its own CPU is counted apart
    (`cpu_seconds`) and left out of the processor's, as the real template service runs in another process. What the
    processor's HTTP client does (request, response parsing) stays in."""

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        started = time.process_time()
        body = json.loads(request.content)
        results = [
            {
                "email": r["email"],
                "subject": "Hello",
                "html": f'<p>Hello {r["data"]["first_name"]}</p><a href="{r["unsubscribeUrl"]}">unsubscribe</a>'
                + "<p>This month: faster sends and live statistics.</p>" * 40,
                "text": "Hello\n" + "This month: faster sends and live statistics.\n" * 40,
            }
            for r in body["recipients"]
        ]
        content = json.dumps({"templateId": "newsletter", "version": 1, "results": results}).encode()
        self.cpu_seconds += time.process_time() - started
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})


async def _prepare(aws: AwsClients, settings: Settings, campaign_id: str, recipients: int = EMAILS) -> None:
    await aws.require_dynamodb().put_item(
        TableName=settings.resources.campaigns_table,
        Item={
            "tenantId": {"S": TENANT},
            "campaignId": {"S": campaign_id},
            "name": {"S": "Bench"},
            "templateId": {"S": "newsletter"},
            "templateVersion": {"N": "1"},
            "fromAddress": {"S": "news@example.com"},
            "status": {"S": "sending"},
            "recipientCount": {"N": str(recipients)},
        },
    )
    document = {"templateId": "newsletter", "version": 1, "name": "N", "subject": "Hello", "html": "<p>x</p>"}
    await aws.require_s3().put_object(
        Bucket=settings.resources.bucket,
        Key=template_key(TENANT, "newsletter", 1),
        Body=json.dumps(document).encode(),
        ContentType="application/json",
    )


def _job(campaign_id: str, n: int) -> str:
    emails = [f"user{n * BATCH + i}@example.com" for i in range(BATCH)]
    return json.dumps(
        {
            "campaignId": campaign_id,
            "tenantId": TENANT,
            "batchId": f"batch_{n:06d}",
            "recipients": [{"email": e, "data": {"first_name": f"U{i}"}} for i, e in enumerate(emails)],
        }
    )


async def _raw_client_cpu_per_call(sesv2: Any, calls: int) -> float:
    """The `ses_client_v2` loop (same client, same stub), in this run: CPU-seconds per `send_email`."""
    raw = b"From: news@example.com\r\nTo: a@example.com\r\nSubject: x\r\n\r\n" + b"x" * 5000
    counter = itertools.count()

    async def worker() -> None:
        while next(counter) < calls:
            await sesv2.send_email(
                FromEmailAddress="news@example.com",
                Destination={"ToAddresses": ["a@example.com"]},
                Content={"Raw": {"Data": raw}},
                ConfigurationSetName="bench-events",
                EmailTags=[{"Name": "herald-tenant", "Value": "bench"}],
            )

    await asyncio.gather(*(worker() for _ in range(32)))  # warm-up: pool and lazy model loading
    counter = itertools.count()
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(32)))
    return (time.process_time() - cpu) / calls


@dataclass
class BenchProcessor:
    """The processor's batch service wired as `herald-processor` wires it, against a fresh emulator for DynamoDB and
    S3, the instant SES stub and an in-process template stand-in."""

    settings: Settings
    aws: AwsClients
    service: BatchService
    exits: AsyncExitStack
    stub: HeraldSettings
    renderer: RenderStandIn


@asynccontextmanager
async def bench_processor(ctx: BenchContext, name: str) -> AsyncIterator[BenchProcessor]:
    prefix = f"b{name[:6]}{os.getpid() % 10000}"
    stack = DevStack(prefix=prefix, ports="free", log_dir=tempfile.mkdtemp(prefix=f"herald-bench-{name}-"))
    try:
        stack._spawn("emulator")
        stack._wait_ready(["emulator"])
        settings = Settings(
            resource_prefix=prefix,
            aws_endpoint_url=stack.emulator_url,
            template_url="http://template.bench",
            public_url="https://herald.bench",
            throttle_backend="local",
        )
        stub = HeraldSettings(resource_prefix=prefix, aws_endpoint_url=ctx.ses_stub_url)
        async with AsyncExitStack() as exits:
            # The processor's own client options (herald_processor.app), for its clients; the baseline keeps the kit's.
            aws = await open_clients(
                exits, settings, "dynamodb", "s3", parameter_validation=CLIENT_PARAMETER_VALIDATION
            )
            use_fast_json(aws)
            ses = await open_clients(exits, stub, "sesv2", parameter_validation=CLIENT_PARAMETER_VALIDATION)
            aws.sesv2 = ses.sesv2
            renderer = RenderStandIn()
            http = await exits.enter_async_context(
                httpx.AsyncClient(base_url=settings.template_url, transport=renderer.transport)
            )
            yield BenchProcessor(settings, aws, build_service(settings, aws, http), exits, stub, renderer)
    finally:
        stack.stop()


async def processor_send(ctx: BenchContext) -> dict[str, Any]:
    async with bench_processor(ctx, "processor") as bench:
        settings, aws, service, exits, stub = bench.settings, bench.aws, bench.service, bench.exits, bench.stub
        raw_client = (await open_clients(exits, stub, "sesv2")).sesv2  # the kit's SES client, as `ses_client_v2`
        calls = min(ctx.calls, 2000)
        before = await _raw_client_cpu_per_call(raw_client, calls)

        async def run(campaign_id: str, batches: int) -> None:
            jobs = iter(range(batches))

            async def worker() -> None:
                for n in jobs:
                    await service.process(parse_job(_job(campaign_id, n)))

            await asyncio.gather(*(worker() for _ in range(CONCURRENT_BATCHES)))

        warm = "camp_" + secrets.token_hex(8)
        await _prepare(aws, settings, warm)
        await run(warm, 2)
        campaign_id = "camp_" + secrets.token_hex(8)
        await _prepare(aws, settings, campaign_id)
        cpu, wall, stand_in = time.process_time(), time.perf_counter(), bench.renderer.cpu_seconds
        await run(campaign_id, EMAILS // BATCH)
        stand_in = bench.renderer.cpu_seconds - stand_in
        cpu, wall = time.process_time() - cpu - stand_in, time.perf_counter() - wall
        after = await _raw_client_cpu_per_call(raw_client, calls)
    baseline = (before + after) / 2
    per_email = cpu / EMAILS
    return {
        "emails": EMAILS,
        "batchSize": BATCH,
        "concurrentBatches": CONCURRENT_BATCHES,
        "processorCpuSecondsPerEmail": per_email,
        "processorCpuMicrosPerEmail": round(per_email * 1e6, 1),
        "rawSesClientCpuMicrosPerCall": round(baseline * 1e6, 1),
        "rawSesClientCpuMicrosBeforeAfter": [round(before * 1e6, 1), round(after * 1e6, 1)],
        "ratio": round(per_email / baseline, 2),
        "targetRatio": TARGET_RATIO,
        "wallSeconds": round(wall, 2),
        "templateStandInCpuMicrosPerEmail": round(stand_in / EMAILS * 1e6, 1),
        "note": "emulator (DynamoDB, S3) in a subprocess, SES v2 → instant stub, template service stand-in "
        "in-process (its own CPU left out); SQS receive/delete not included",
    }
