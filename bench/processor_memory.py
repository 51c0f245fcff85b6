"""Processor memory over a large campaign (issue 3, "memory stays flat however large the campaign").

The batch service runs in this process as in `processor_send` (emulator for DynamoDB and S3, SES v2 at the instant
stub, template service stood in). The process's resident set is read after N emails and again after 10 N emails of
one campaign: a processor that keeps something per recipient or per batch grows with the campaign; one that does not
stays flat. Sizes: HERALD_BENCH_MEMORY_EMAILS (N, default 500).
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.processor_send import BATCH, CONCURRENT_BATCHES, TENANT, _job, _prepare, _renderer
from herald_cli.stack import DevStack
from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_processor.app import CLIENT_PARAMETER_VALIDATION, build_service
from herald_processor.config import Settings
from herald_processor.schemas import parse_job

if TYPE_CHECKING:
    from bench.run import BenchContext

EMAILS = int(os.environ.get("HERALD_BENCH_MEMORY_EMAILS", "500"))
GROWTH_TARGET = 1.10  # RSS after 10 N within 10 % of RSS after N


def rss_bytes() -> int:
    """This process's resident set size now (not the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def processor_memory(ctx: BenchContext) -> dict[str, Any]:
    prefix = f"bmem{os.getpid() % 10000}"
    stack = DevStack(prefix=prefix, ports="free", log_dir=tempfile.mkdtemp(prefix="herald-bench-memory-"))
    samples: dict[int, int] = {}
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
            ses = await open_clients(exits, stub, "sesv2", parameter_validation=CLIENT_PARAMETER_VALIDATION)
            aws.sesv2 = ses.sesv2
            http = await exits.enter_async_context(
                httpx.AsyncClient(base_url=settings.template_url, transport=_renderer())
            )
            service = build_service(settings, aws, http)
            campaign_id = "camp_" + secrets.token_hex(8)
            await _prepare(aws, settings, campaign_id, recipients=10 * EMAILS)
            batches = iter(range(10 * EMAILS // BATCH))
            done = 0

            async def worker() -> None:
                nonlocal done
                for n in batches:
                    await service.process(parse_job(_job(campaign_id, n)))
                    done += BATCH
                    if done in (EMAILS, 10 * EMAILS):
                        gc.collect()
                        samples[done] = rss_bytes()

            await asyncio.gather(*(worker() for _ in range(CONCURRENT_BATCHES)))
    finally:
        stack.stop()
    first, last = samples[EMAILS], samples[10 * EMAILS]
    return {
        "tenant": TENANT,
        "emailsAtFirstSample": EMAILS,
        "emailsAtLastSample": 10 * EMAILS,
        "rssMiBAfterN": round(first / 2**20, 1),
        "rssMiBAfter10N": round(last / 2**20, 1),
        "growth": round(last / first, 3),
        "targetGrowth": GROWTH_TARGET,
    }
