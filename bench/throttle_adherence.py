"""Throttle adherence (issue 3, benchmark b): two processors share one campaign's `emailsPerMinute`; the achieved
send rate (from the `sentAt` of the messages the emulator's SES accepted) divided by the configured rate.

The whole stack runs as processes (DevStack) plus a second processor; the emulator's SES enforces a maximum send rate
of 20/s and answers Throttling above it, so "SES throttled us" is counted from both processors' logs.
Run length: RECIPIENTS / rate, 70 s by default, so that the busiest 60-second window is a full minute of sending: it
must hold no more than `emailsPerMinute` plus one leased block of the shared bucket.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import secrets
import signal
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack, free_port
from herald_processor.shared_throttle import DEFAULT_BLOCK

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.run import BenchContext

RATE_PER_MINUTE = 600
RECIPIENTS = int(os.environ.get("HERALD_BENCH_THROTTLE_RECIPIENTS", "700"))  # 700 at 10/s: a 70 s run
SES_MAX_SEND_RATE = 20


@contextlib.contextmanager
def _second_processor(stack: DevStack, log: Path) -> Iterator[None]:
    port = free_port()
    command = [str(stack.bin_dir / "herald-processor"), "--host", stack.host, "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=stack.env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{stack.host}:{port}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.3)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            process.kill()


def _run() -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="herald-bench-throttle-"))
    stack = DevStack(prefix=f"bthr{os.getpid() % 10000}", ports="free", log_dir=log_dir)
    with stack:
        httpx.put(
            f"{stack.emulator_url}/_emulator/faults", json={"sesMaxSendRate": SES_MAX_SEND_RATE}, timeout=10
        ).raise_for_status()
        with (
            _second_processor(stack, log_dir / "processor-2.log"),
            HeraldClient(stack.urls, stack.token("bench", "marketer"), timeout=60) as client,
        ):
            client.put_template("t", subject="Hi {{ first_name }}", html="<p>Hi {{ first_name }}</p>")
            campaign_id = str(
                client.create_campaign(name="Bench", template_id="t", from_address="news@example.com")["campaignId"]
            )
            tag = secrets.token_hex(3)
            rows = [{"email": f"u{i}.{tag}@example.com", "data": {"first_name": "U"}} for i in range(RECIPIENTS)]
            for start in range(0, len(rows), 500):
                client.add_recipients(campaign_id, rows[start : start + 500])
            client.send_campaign(campaign_id, throttle={"emailsPerMinute": RATE_PER_MINUTE})
            deadline = time.monotonic() + RECIPIENTS / (RATE_PER_MINUTE / 60) * 2 + 60
            while client.get_campaign(campaign_id)["status"] == "sending" and time.monotonic() < deadline:
                time.sleep(0.5)
        messages = httpx.get(f"{stack.emulator_url}/_emulator/ses/messages", timeout=30).json()["messages"]
    ours = [m for m in messages if m["tags"].get("herald-campaign") == campaign_id]
    sent_at = sorted(datetime.fromisoformat(m["sentAt"].replace("Z", "+00:00")).timestamp() for m in ours)
    span = sent_at[-1] - sent_at[0] if len(sent_at) > 1 else 0.0
    achieved = (len(sent_at) - 1) / span if span else 0.0
    logs = (log_dir / "processor.log").read_text(errors="replace") + (log_dir / "processor-2.log").read_text(
        errors="replace"
    )
    throttled = sum(1 for line in logs.splitlines() if "processor.send_throttled" in line)
    busiest_second = _busiest(sent_at, 1.0)
    busiest_minute = _busiest(sent_at, 60.0)
    configured = RATE_PER_MINUTE / 60
    return {
        "processors": 2,
        "emails": len(sent_at),
        "configuredPerSecond": configured,
        "achievedPerSecond": round(achieved, 2),
        "adherence": round(achieved / configured, 3),
        "targetAdherence": 0.95,
        "runSeconds": round(span, 1),
        "busiestSecond": busiest_second,
        "busiest60Seconds": busiest_minute,
        "minuteLimitPlusBlock": RATE_PER_MINUTE + DEFAULT_BLOCK,
        "minuteLimitKept": busiest_minute <= RATE_PER_MINUTE + DEFAULT_BLOCK,
        "fullMinuteMeasured": span >= 60.0,
        "sesThrottlingErrors": throttled,
        "sesMaxSendRate": SES_MAX_SEND_RATE,
    }


def _busiest(sent_at: list[float], window: float) -> int:
    """The most sends within any `window` seconds (each window starting at a send)."""
    return max((bisect.bisect_left(sent_at, t + window) - i for i, t in enumerate(sent_at)), default=0)


async def throttle_adherence(_ctx: BenchContext) -> dict[str, Any]:
    return await asyncio.to_thread(_run)
