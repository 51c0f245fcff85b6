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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.processor_send import BATCH, CONCURRENT_BATCHES, TENANT, _job, _prepare, bench_processor
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
    samples: dict[int, int] = {}
    async with bench_processor(ctx, "memory") as bench:
        aws, settings, service = bench.aws, bench.settings, bench.service
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
