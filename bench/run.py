"""Herald's benchmarks: `python -m bench.run [--calls N] [--concurrency C] [--only NAME ...]`.

Each benchmark is an async function registered with `@benchmark("name")`; it returns a JSON-able dict that is
merged into `bench/results/latest.json` under its name, so a run of some benchmarks keeps the others' last results.

The SES client benchmarks measure what one send costs the *sending process* (the processor): aiobotocore's
request signing, serialisation and response parsing, against an instant SES stub in another process. That CPU cost,
not SES, is the ceiling on how many emails one processor core can push.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.analytics_ingest import analytics_ingest
from bench.campaign_scale import campaign_send, campaign_upload
from bench.processor_floor import processor_floor
from bench.processor_memory import processor_memory
from bench.processor_send import processor_send
from bench.report_memory import report_memory
from bench.ses_stub import running_stub
from bench.system_cost import system_cost
from bench.template_render import template_render
from bench.throttle_adherence import throttle_adherence
from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings

RESULTS_FILE = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_CALLS = 3000
DEFAULT_CONCURRENCY = 32  # the processor's in-flight SES calls per process
WARMUP_CALLS = 100  # connection pool, botocore's lazy model loading: not what a steady-state send costs


@dataclass(frozen=True)
class BenchContext:
    """What every benchmark may use: the shared SES stub and the run's options."""

    ses_stub_url: str
    calls: int
    concurrency: int


BenchFn = Callable[[BenchContext], Awaitable[dict[str, Any]]]
BENCHMARKS: dict[str, BenchFn] = {}


def benchmark(name: str) -> Callable[[BenchFn], BenchFn]:
    """Register an async benchmark under `name` (its key in latest.json)."""

    def register(fn: BenchFn) -> BenchFn:
        BENCHMARKS[name] = fn
        return fn

    return register


async def measure_calls(call: Callable[[int], Awaitable[object]], calls: int, concurrency: int) -> dict[str, Any]:
    """Run `call(i)` `calls` times with `concurrency` in flight; CPU (this process) and wall time per call."""
    await _run_workers(call, WARMUP_CALLS, concurrency)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    errors = await _run_workers(call, calls, concurrency)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "calls": calls,
        "concurrency": concurrency,
        "errors": errors,
        "cpuSeconds": round(cpu, 4),
        "wallSeconds": round(wall, 4),
        "cpuSecondsPerCall": cpu / calls,
        "cpuMicrosPerCall": round(cpu / calls * 1e6, 1),
        "callsPerCpuSecond": round(calls / cpu, 1) if cpu else None,
        "wallCallsPerSecond": round(calls / wall, 1),
    }


async def _run_workers(call: Callable[[int], Awaitable[object]], calls: int, concurrency: int) -> int:
    # A fixed pool of workers pulling from a counter: bounded in-flight calls without `calls` pending tasks.
    counter = itertools.count()
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while (i := next(counter)) < calls:
            try:
                await call(i)
            except Exception:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors


def campaign_message(size: int = 5 * 1024) -> bytes:
    """A MIME message like a campaign email: headers Herald sets, text and HTML parts, about `size` bytes."""
    message = EmailMessage()
    message["From"] = "Herald Bench <news@example.com>"
    message["To"] = "user1@example.com"
    message["Subject"] = "Ada, the Herald newsletter is here"
    message["List-Unsubscribe"] = "<http://127.0.0.1:8001/u/bench-token>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for header, value in (("Tenant", "bench"), ("Campaign", "camp_bench"), ("Recipient", "user1@example.com")):
        message[f"X-Herald-{header}"] = value
    paragraph = "<p>This month: faster sends, live statistics and a suppression list that looks after you.</p>\n"
    html = "<html><body><h1>Hello Ada!</h1>\n" + paragraph * (size // 2 // len(paragraph)) + "</body></html>"
    message.set_content("Hello Ada!\n\n" + "This month: faster sends and live statistics.\n" * (size // 2 // 46))
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


def _ses_settings(ctx: BenchContext) -> HeraldSettings:
    return HeraldSettings(resource_prefix="bench", aws_endpoint_url=ctx.ses_stub_url)


@benchmark("ses_client_v2")
async def ses_client_v2(ctx: BenchContext) -> dict[str, Any]:
    """aiobotocore SES v2 `send_email` with raw content, a configuration set and tags (herald_common's SES config)."""
    settings, raw = _ses_settings(ctx), campaign_message()
    async with AsyncExitStack() as stack:
        sesv2 = (await open_clients(stack, settings, "sesv2")).sesv2
        assert sesv2 is not None

        async def send(i: int) -> object:
            return await sesv2.send_email(
                FromEmailAddress="news@example.com",
                Destination={"ToAddresses": [f"user{i}@example.com"]},
                Content={"Raw": {"Data": raw}},
                ConfigurationSetName=settings.resources.configuration_set,
                EmailTags=[{"Name": "herald-tenant", "Value": "bench"}, {"Name": "herald-campaign", "Value": "camp"}],
            )

        return await measure_calls(send, ctx.calls, ctx.concurrency) | {"messageBytes": len(raw)}


@benchmark("ses_client_v1")
async def ses_client_v1(ctx: BenchContext) -> dict[str, Any]:
    """aiobotocore SES v1 `send_raw_email` (query protocol, XML answers), the same message."""
    settings, raw = _ses_settings(ctx), campaign_message()
    async with AsyncExitStack() as stack:
        ses = (await open_clients(stack, settings, "ses")).ses
        assert ses is not None

        async def send(i: int) -> object:
            return await ses.send_raw_email(
                Source="news@example.com",
                Destinations=[f"user{i}@example.com"],
                RawMessage={"Data": raw},
                ConfigurationSetName=settings.resources.configuration_set,
                Tags=[{"Name": "herald-tenant", "Value": "bench"}, {"Name": "herald-campaign", "Value": "camp"}],
            )

        return await measure_calls(send, ctx.calls, ctx.concurrency) | {"messageBytes": len(raw)}


# Benchmarks defined in their own modules (they do not import this one: `python -m bench.run` runs it as __main__).
benchmark("template_render")(template_render)
benchmark("campaign_upload")(campaign_upload)
benchmark("campaign_send")(campaign_send)
benchmark("analytics_ingest")(analytics_ingest)
benchmark("processor_send")(processor_send)
benchmark("processor_floor")(processor_floor)
benchmark("processor_memory")(processor_memory)
benchmark("report_memory")(report_memory)
benchmark("throttle_adherence")(throttle_adherence)
benchmark("system_cost")(system_cost)


def machine_info(event_loop: str) -> dict[str, Any]:
    cpu_model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpuModel": cpu_model,
        # The machine is shared: a high load average explains a slow run.
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
        "eventLoop": event_loop,
        "aiobotocore": version("aiobotocore"),
        "botocore": version("botocore"),
    }


def write_results(
    results: dict[str, dict[str, Any]], machine: dict[str, Any], path: Path = RESULTS_FILE
) -> dict[str, Any]:
    """Merge `results` into the file by benchmark name; other benchmarks' last entries stay."""
    document: dict[str, Any] = {"benchmarks": {}}
    if path.exists():
        try:
            document = json.loads(path.read_text())
        except ValueError:
            pass
    document.setdefault("benchmarks", {}).update(results)
    document["machine"] = machine
    document["ranAt"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return document


def results_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Herald benchmarks")
    columns = ("benchmark", "calls", "in flight", "CPU µs/call", "calls/CPU-s", "wall calls/s", "errors")
    for column in columns:
        table.add_column(column, justify="left" if column == "benchmark" else "right", no_wrap=column == "benchmark")
    for name, r in results.items():
        fields = ("calls", "concurrency", "cpuMicrosPerCall", "callsPerCpuSecond", "wallCallsPerSecond", "errors")
        table.add_row(name, *(str(r.get(f, "—")) for f in fields))
    return table


async def run(names: list[str], calls: int, concurrency: int, console: Console) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with running_stub() as stub_url:
        ctx = BenchContext(ses_stub_url=stub_url, calls=calls, concurrency=concurrency)
        for name in names:
            console.print(f"running [bold]{name}[/] …")
            results[name] = await BENCHMARKS[name](ctx)
    return results


def _event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    # The services run under uvicorn, which uses uvloop when installed: measure the same loop.
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS, help="measured calls per benchmark")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="calls in flight")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="the results file (merged, not replaced)")
    args = parser.parse_args(argv)
    console = Console()
    names = args.only or list(BENCHMARKS)
    loop_factory, loop_name = _event_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        results = runner.run(run(names, args.calls, args.concurrency, console))
    write_results(results, machine_info(loop_name), args.output)
    console.print(results_table(results))
    console.print(f"results written to {args.output}")


if __name__ == "__main__":
    main()
