"""The delivery report of a 1,000,000-recipient campaign streams with the analytics service under 200 MB RSS
(issue 17).

The ledger is seeded over DynamoDB's `BatchWriteItem` into `bench/ledger_stub.py` (a compact DynamoDB stand-in: the
emulator cannot hold a million rows cheaply), 1,000 rows a call where DynamoDB takes 25: the seeding is not what is
measured, and 40,000 calls would take minutes of a shared machine. The real analytics service
(`herald-analytics`, event consumer off) then serves `GET /campaigns/{id}/report` with `Accept: text/csv`; the whole
CSV is read and counted, and the service's peak resident set (`VmHWM` of its process) is the figure.
Size: HERALD_BENCH_REPORT_ROWS (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from herald_cli.stack import free_port, serving
from herald_common.auth import mint_token
from herald_common.settings import HeraldSettings

if TYPE_CHECKING:
    from bench.run import BenchContext

ROWS = int(os.environ.get("HERALD_BENCH_REPORT_ROWS", "1000000"))
TARGET_MIB = 200
PREFIX = "benchreport"
TENANT = "bench"
CAMPAIGN = "camp_00000000000000000001"
ROWS_PER_WRITE = 1000  # the stub's batch (DynamoDB's own limit is 25 put requests per BatchWriteItem)
WRITERS = 4
REPO_ROOT = Path(__file__).resolve().parents[1]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def _row(i: int) -> str:
    """One ledger row in DynamoDB's wire JSON, shaped like a sent recipient's."""
    email = f"reader{i:07d}@example.com"
    return (
        f'{{"PutRequest":{{"Item":{{"campaignKey":{{"S":"{TENANT}#{CAMPAIGN}"}},"email":{{"S":"{email}"}},'
        f'"state":{{"S":"sent"}},"messageId":{{"S":"0100018c-{i:012x}-bench-000000"}},"attempt":{{"N":"1"}},'
        f'"sentAt":{{"S":"2026-12-01T10:00:00.000Z"}},"updatedAt":{{"S":"2026-12-01T10:00:01.000Z"}}}}}}}}'
    )


async def _seed(url: str, table: str, campaigns_table: str) -> float:
    started = time.perf_counter()
    headers = {"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem", "Content-Type": "application/x-amz-json-1.0"}
    calls = iter(range(0, ROWS, ROWS_PER_WRITE))
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        campaign = (
            f'{{"TableName":"{campaigns_table}","Item":{{"tenantId":{{"S":"{TENANT}"}},"campaignId":{{"S":"{CAMPAIGN}"}},'
            f'"status":{{"S":"sent"}},"recipientCount":{{"N":"{ROWS}"}},"finalCount":{{"N":"{ROWS}"}},'
            f'"sentCount":{{"N":"{ROWS}"}},"sesSendEventCount":{{"N":"{ROWS}"}}}}}}'
        )
        put = {"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"}
        (await client.post("/", content=campaign, headers=put)).raise_for_status()

        async def writer() -> None:
            for start in calls:
                rows = ",".join(_row(i) for i in range(start, min(start + ROWS_PER_WRITE, ROWS)))
                body = f'{{"RequestItems":{{"{table}":[{rows}]}}}}'
                (await client.post("/", content=body, headers=headers)).raise_for_status()

        await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return time.perf_counter() - started


async def report_memory(ctx: BenchContext) -> dict[str, Any]:  # noqa: ARG001 (no SES stub needed)
    stub_port, service_port = free_port(), free_port()
    stub_url, service_url = f"http://127.0.0.1:{stub_port}", f"http://127.0.0.1:{service_port}"
    settings = HeraldSettings(resource_prefix=PREFIX)
    names = settings.resources
    stub = [sys.executable, "-m", "bench.ledger_stub", "--port", str(stub_port), "--prefix", PREFIX]
    with serving(stub, stub_url, cwd=REPO_ROOT, name="the ledger stub"):
        seed_seconds = await _seed(stub_url, names.ledger_table, names.campaigns_table)
        env = dict(os.environ) | {
            "AWS_ENDPOINT_URL": stub_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "HERALD_RESOURCE_PREFIX": PREFIX,
            "HERALD_ANALYTICS_CONSUME_EVENTS": "false",
        }
        service = [str(Path(sys.executable).parent / "herald-analytics"), "--port", str(service_port)]
        with serving(service, service_url, env=env, name="the analytics service", timeout=60) as process:
            token = mint_token(settings, tenant_id=TENANT, roles=["viewer"])
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=service_url, timeout=600) as client:
                page = await client.get(f"/campaigns/{CAMPAIGN}/report", params={"limit": 1000}, headers=auth)
                page.raise_for_status()
                rss_before = _status_kib(process.pid, "VmRSS")
                rows, size, started = -1, 0, time.perf_counter()  # -1: the header row
                async with client.stream(
                    "GET", f"/campaigns/{CAMPAIGN}/report", headers=auth | {"Accept": "text/csv"}
                ) as response:
                    response.raise_for_status()
                    async for chunk in response.aiter_bytes():
                        rows += chunk.count(b"\n")
                        size += len(chunk)
                seconds = time.perf_counter() - started
            peak = _status_kib(process.pid, "VmHWM")
    if rows != ROWS:
        raise RuntimeError(f"the report streamed {rows} rows, not {ROWS}")
    return {
        "rows": rows,
        "csvMiB": round(size / 2**20, 1),
        "seedSeconds": round(seed_seconds, 1),
        "streamSeconds": round(seconds, 1),
        "rowsPerSecond": round(rows / seconds),
        "rssMiBBeforeStream": round(rss_before / 1024, 1),
        "peakRssMiB": round(peak / 1024, 1),
        "targetPeakRssMiB": TARGET_MIB,
        "underTarget": peak / 1024 < TARGET_MIB,
    }
