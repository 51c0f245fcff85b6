"""The floor of the processor's design: what the per-recipient ledger costs on top of the SES calls (issue 3).

Per chunk of `send_concurrency` (16) recipients, exactly what the processor's send phase cannot avoid: one ledger
claim transaction (`DynamoDeliveryLedger.claim_many`), one SES `send_email` per recipient, one transaction recording
the outcomes (`settle_many`), four chunks in flight, as the processor does it (`herald_processor.sending`); nothing
else (no campaign or status reads, suppression check, rendering, MIME building, throttle, and not the batch's one
counting transaction). Against a plain `send_email` loop on the same client options, taken just before and after.
`processor_send` ÷ this floor is what the rest of the batch handling costs.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from typing import TYPE_CHECKING, Any

from bench.processor_send import TENANT, _prepare, _raw_client_cpu_per_call, bench_processor
from herald_common.aws import open_clients
from herald_processor.domain import Campaign, CampaignStatus, LedgerState, SendOutcome, SendResult, Settlement
from herald_processor.ledger import DynamoDeliveryLedger

if TYPE_CHECKING:
    from bench.run import BenchContext

EMAILS = 1600
CHUNK = 16
CHUNKS_IN_FLIGHT = 4
RAW = b"From: news@example.com\r\nTo: a@example.com\r\nSubject: x\r\n\r\n" + b"x" * 5000


async def processor_floor(ctx: BenchContext) -> dict[str, Any]:
    async with bench_processor(ctx, "floor") as bench:
        settings, aws = bench.settings, bench.aws
        raw_client = (await open_clients(bench.exits, bench.stub, "sesv2")).sesv2
        assert aws.sesv2 is not None
        ses = aws.sesv2
        resources = settings.resources
        ledger = DynamoDeliveryLedger(aws.require_dynamodb(), resources.ledger_table, resources.campaigns_table)
        campaign_id = "camp_" + secrets.token_hex(8)
        await _prepare(aws, settings, campaign_id, recipients=EMAILS)
        campaign = Campaign(TENANT, campaign_id, CampaignStatus.SENDING, "newsletter", "news@example.com")
        counter = itertools.count()

        async def chunk(emails: list[str]) -> None:
            taken = await ledger.claim_many(
                campaign, dict.fromkeys(emails, 0), owner="floor", batch_id="batch_000001", lease_seconds=60
            )
            answers = await asyncio.gather(
                *(
                    ses.send_email(
                        Destination={"ToAddresses": [email]},
                        Content={"Raw": {"Data": RAW}},
                        ConfigurationSetName="bench-events",
                        EmailTags=[{"Name": "herald-tenant", "Value": TENANT}],
                    )
                    for email in taken
                )
            )
            await ledger.settle_many(
                campaign,
                "floor",
                [
                    Settlement(email, LedgerState.SENT, SendOutcome(SendResult.SENT, answer["MessageId"]))
                    for email, answer in zip(taken, answers, strict=True)
                ],
            )

        async def worker(chunks: int) -> None:
            for _ in range(chunks):
                await chunk([f"user{next(counter)}@example.com" for _ in range(CHUNK)])

        calls = min(ctx.calls, 2000)
        await worker(2)  # warm-up: connections and botocore's lazy loading
        before = await _raw_client_cpu_per_call(raw_client, calls)
        cpu = time.process_time()
        per_worker = EMAILS // CHUNK // CHUNKS_IN_FLIGHT
        await asyncio.gather(*(worker(per_worker) for _ in range(CHUNKS_IN_FLIGHT)))
        cpu = time.process_time() - cpu
        after = await _raw_client_cpu_per_call(raw_client, calls)
    emails = per_worker * CHUNKS_IN_FLIGHT * CHUNK
    baseline = (before + after) / 2
    return {
        "emails": emails,
        "chunk": CHUNK,
        "chunksInFlight": CHUNKS_IN_FLIGHT,
        "floorCpuMicrosPerEmail": round(cpu / emails * 1e6, 1),
        "rawSesClientCpuMicrosPerCall": round(baseline * 1e6, 1),
        "rawSesClientCpuMicrosBeforeAfter": [round(before * 1e6, 1), round(after * 1e6, 1)],
        "ratio": round(cpu / emails / baseline, 2),
        "note": "one claim transaction + SES calls + one outcome transaction per chunk, nothing else",
    }
