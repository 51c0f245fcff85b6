"""Campaign service at scale, as real processes: the emulator and the campaign service are subprocesses (started
with `herald_cli.stack.DevStack`), driven over HTTP.

- `campaign_upload`: a generated CSV of `HERALD_BENCH_UPLOAD_ROWS` rows (default 1,000,000) streamed as the request
  body (httpx, from a generator: the client never holds it); rows/s and the service's peak RSS (`VmHWM` in
  /proc, the kernel's high-water mark of the resident set) against the 200 MB target.
- `campaign_send`: `POST /send` answer time, p50/p95, for 100-recipient and 100,000-recipient campaigns side by
  side (target ratio < 1.5), and fan-out throughput (recipients queued per second) of one 100,000 campaign.
  The 100,000 drafts after the first reuse its stored parts (S3 copies and the row's counts): the send path reads
  only the row, and uploading each one again would only make the run longer.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from herald_cli.stack import DevStack
from herald_common.aws import open_clients

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from bench.run import BenchContext
    from herald_common.aws import AwsClients

UPLOAD_ROWS = int(os.environ.get("HERALD_BENCH_UPLOAD_ROWS", "1000000"))
SEND_SAMPLES = int(os.environ.get("HERALD_BENCH_SEND_SAMPLES", "20"))
LARGE = 100_000
SMALL = 100
RSS_TARGET_MB = 200
CAMPAIGN = {"name": "Bench", "templateId": "newsletter", "fromAddress": "news@example.com"}


@contextmanager
def campaign_stack(**env: str) -> Iterator[DevStack]:
    """The emulator and the campaign service only, on free ports; both stopped on exit."""
    stack = DevStack(
        prefix=f"bench{os.getpid() % 10000}",
        ports="free",
        log_dir=tempfile.mkdtemp(prefix="herald-bench-campaign-"),
        env=env,
    )
    try:
        # The launcher's own steps, for two of its components.
        stack._spawn("emulator")
        stack._wait_ready(["emulator"])
        stack._spawn("campaign")
        stack._wait_ready(["campaign"])
        yield stack
    finally:
        stack.stop()


def proc_status_mb(pid: int, field: str) -> float:
    """A `/proc/{pid}/status` memory field (VmRSS, VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


async def csv_body(rows: int, *, start: int = 0) -> AsyncIterator[bytes]:
    """`email,first_name,plan` and `rows` rows, in ~64 KiB chunks, generated as they are sent."""
    yield b"email,first_name,plan\n"
    chunk: list[str] = []
    for i in range(start, start + rows):
        chunk.append(f"user{i}@example.com,Name{i},{'pro' if i % 3 else 'free'}\n")
        if len(chunk) == 1500:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()


def _auth(stack: DevStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token('bench', 'marketer')}"}


async def _create(http: httpx.AsyncClient, headers: dict[str, str], recipients: list[str] | None = None) -> str:
    response = await http.post("/campaigns", json=CAMPAIGN | {"recipients": recipients or []}, headers=headers)
    response.raise_for_status()
    return str(response.json()["campaignId"])


async def _upload(http: httpx.AsyncClient, headers: dict[str, str], cid: str, rows: int) -> dict[str, Any]:
    response = await http.post(
        f"/campaigns/{cid}/recipients",
        content=csv_body(rows),
        headers=headers | {"Content-Type": "text/csv"},
        timeout=httpx.Timeout(30.0, read=1800.0),
    )
    response.raise_for_status()
    counts: dict[str, Any] = response.json()
    return counts


async def campaign_upload(_ctx: BenchContext) -> dict[str, Any]:
    """Peak RSS and rows/s of a large CSV upload into one draft."""
    with campaign_stack() as stack:
        process = stack.process("campaign")
        assert process is not None
        headers = _auth(stack)
        async with httpx.AsyncClient(base_url=stack.urls.campaign, timeout=60) as http:
            cid = await _create(http, headers)
            rss_before = proc_status_mb(process.pid, "VmRSS")
            started = time.perf_counter()
            counts = await _upload(http, headers, cid, UPLOAD_ROWS)
            seconds = time.perf_counter() - started
            peak = proc_status_mb(process.pid, "VmHWM")
    return {
        "rows": UPLOAD_ROWS,
        "accepted": counts["accepted"],
        "seconds": round(seconds, 1),
        "rowsPerSecond": round(UPLOAD_ROWS / seconds),
        "rssBeforeMb": round(rss_before, 1),
        "peakRssMb": round(peak, 1),
        "rssTargetMb": RSS_TARGET_MB,
        "withinTarget": peak < RSS_TARGET_MB,
    }


async def _clone_large(aws: AwsClients, stack: DevStack, source: str, target: str, parts: int) -> None:
    """Give the draft `target` the stored list of `source` (S3 copies of its parts and the row's counts)."""
    names = stack.settings.resources
    s3, db = aws.require_s3(), aws.require_dynamodb()
    await asyncio.gather(
        *(
            s3.copy_object(
                Bucket=names.bucket,
                Key=f"recipients/bench/{target}/part-{n:05d}.jsonl",
                CopySource={"Bucket": names.bucket, "Key": f"recipients/bench/{source}/part-{n:05d}.jsonl"},
            )
            for n in range(1, parts + 1)
        )
    )
    await db.update_item(
        TableName=names.campaigns_table,
        Key={"tenantId": {"S": "bench"}, "campaignId": {"S": target}},
        UpdateExpression="SET recipientParts = :p, recipientCount = :n",
        ExpressionAttributeValues={":p": {"N": str(parts)}, ":n": {"N": str(LARGE)}},
    )


async def _row(aws: AwsClients, stack: DevStack, cid: str) -> dict[str, Any]:
    response = await aws.require_dynamodb().get_item(
        TableName=stack.settings.resources.campaigns_table,
        Key={"tenantId": {"S": "bench"}, "campaignId": {"S": cid}},
        ConsistentRead=True,
    )
    return response["Item"]


async def _timed_send(http: httpx.AsyncClient, headers: dict[str, str], cid: str) -> float:
    started = time.perf_counter()
    response = await http.post(f"/campaigns/{cid}/send", json={"sendAt": "immediate"}, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"send answered {response.status_code}: {response.text}")
    return elapsed


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50Ms": round(statistics.median(ordered) * 1000, 1), "p95Ms": round(p95 * 1000, 1)}


@asynccontextmanager
async def _template_stub() -> AsyncIterator[str]:
    """A tiny template service stand-in in a thread: `GET /templates/{id}` answers version 1."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"templateId": self.path.rsplit("/", 1)[-1], "version": 1}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def campaign_send(_ctx: BenchContext) -> dict[str, Any]:
    """`POST /send` answer time by campaign size, and fan-out throughput."""
    async with _template_stub() as template_url, AsyncExitStack() as stack_ctx:
        stack = stack_ctx.enter_context(campaign_stack(HERALD_TEMPLATE_URL=template_url))
        aws = await open_clients(stack_ctx, stack.settings, "dynamodb", "s3", "sqs")
        sqs = aws.require_sqs()
        queue_url = (await sqs.get_queue_url(QueueName=stack.settings.resources.email_jobs_queue))["QueueUrl"]
        headers = _auth(stack)
        http = await stack_ctx.enter_async_context(httpx.AsyncClient(base_url=stack.urls.campaign, timeout=60))

        # One 100,000-recipient campaign, uploaded, sent, and its fan-out timed to the end.
        source = await _create(http, headers)
        await _upload(http, headers, source, LARGE)
        parts = int((await _row(aws, stack, source))["recipientParts"]["N"])
        first_send = await _timed_send(http, headers, source)
        started = time.perf_counter()
        while not (await _row(aws, stack, source)).get("fanoutDone", {}).get("BOOL"):
            await asyncio.sleep(0.2)
        fanout_seconds = time.perf_counter() - started + first_send
        batches = int((await _row(aws, stack, source))["batchCount"]["N"])
        await sqs.purge_queue(QueueUrl=queue_url)

        # Pairs of sends, alternating which size goes first; each large campaign is cancelled right after its
        # answer, so no sample is taken while a 100,000 fan-out runs.
        small: list[float] = []
        large: list[float] = []
        inline = [f"s{i}@example.com" for i in range(SMALL)]
        for i in range(SEND_SAMPLES):
            small_id = await _create(http, headers, inline)
            large_id = await _create(http, headers)
            await _clone_large(aws, stack, source, large_id, parts)
            order = [(small_id, small), (large_id, large)]
            for cid, samples in order if i % 2 == 0 else order[::-1]:
                samples.append(await _timed_send(http, headers, cid))
                if cid == large_id:  # stop its fan-out before the next sample is taken
                    (await http.post(f"/campaigns/{large_id}/cancel", headers=headers)).raise_for_status()
    small_p, large_p = _percentiles(small), _percentiles(large)
    return {
        "samplesPerSize": SEND_SAMPLES,
        f"send{SMALL}": small_p,
        f"send{LARGE}": large_p,
        "p50Ratio": round(large_p["p50Ms"] / small_p["p50Ms"], 2),
        "p95Ratio": round(large_p["p95Ms"] / small_p["p95Ms"], 2),
        "ratioTarget": 1.5,
        "fanoutRecipients": LARGE,
        "fanoutBatches": batches,
        "fanoutSeconds": round(fanout_seconds, 1),
        "fanoutRecipientsPerSecond": round(LARGE / fanout_seconds),
    }
