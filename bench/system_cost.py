"""What one email costs the whole system: a campaign through the real processes, CPU of each Herald process per email.

The dev stack (`herald_cli.stack.DevStack`: the emulator and the four services as the console scripts a user runs,
on free ports) sends one campaign of `HERALD_BENCH_SYSTEM_RECIPIENTS` recipients (default 10,000) through the
public APIs: the newsletter of `bench/template_render.py` saved as a template, the recipients added in chunks of
1,000 with their personalisation, `POST /send`, then the campaign's statistics followed until every email is sent,
every SES Delivery event (emulator: SES → SNS → SQS) is counted by analytics, and no counter has moved for a few
seconds.

Each Herald process's CPU (user + system, every thread and any child, from /proc) is read at the phase
boundaries: `intake` (adding the recipients) and `send` (from `POST /send` to settled statistics); the total is
their sum. The emulator's CPU is reported beside them and left out of the total: in production it is AWS. The
processes' idle cost (pollers, schedulers) over a quiet stretch between the two is reported as a percentage of a
core; it is not in the total, except for what the pollers spend while the send runs (a deployment pays that too).

Figures: ms of CPU per email per service and in total, and the total as vCPU-hours per million emails.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

from bench.template_render import TEMPLATE, process_cpu_seconds, process_tree
from herald_cli.client import HeraldClient
from herald_cli.stack import SERVICES, DevStack

if TYPE_CHECKING:
    from bench.run import BenchContext

RECIPIENTS = int(os.environ.get("HERALD_BENCH_SYSTEM_RECIPIENTS", "10000"))
TARGET_MS_PER_EMAIL = 3.0
TENANT = "bench-cost"
TEMPLATE_ID = "newsletter"
INTAKE_CHUNK = 1000
IDLE_SECONDS = 10.0  # the quiet stretch that measures the processes' idle cost
SETTLE_SECONDS = 3.0  # every email counted and no counter moved for this long: late events are in
POLL_SECONDS = 1.0
# The emulator spends several ms of its own CPU per DynamoDB write: on 2 shared cores a 10,000 send takes many
# minutes. The bound only stops a stuck run.
TIMEOUT_SECONDS_PER_EMAIL = 0.5
MIN_TIMEOUT_SECONDS = 300.0


def recipient_data(i: int) -> dict[str, Any]:
    """The newsletter's variables, distinct per recipient, within the campaign service's 2 KiB of data per row."""
    return {
        "first_name": f"reader {i}",
        "city": ("Lisbon", "Oslo", "Lagos", "Lima")[i % 4],
        "plan": "pro" if i % 3 == 0 else "free",
        "points": (i * 37) % 2000,
        "month": "November",
        "articles": [
            {
                "slug": f"s{i}-{n}",
                "title": f"Story {n} for reader {i}",
                "summary": "Deliverability, templates and the small things that make readers click.",
                "minutes": 3 + n,
                "tag": ("product", "guide", "news")[n % 3],
                "rating": 3 + (i + n) % 21 / 10,
            }
            for n in range(10)
        ],
    }


def herald_cpu(stack: DevStack) -> dict[str, float]:
    """CPU seconds used so far by each component's process tree (the four services and the emulator)."""
    found: dict[str, float] = {}
    for name in (*SERVICES, "emulator"):
        process = stack.process(name)
        assert process is not None, name
        found[name] = sum(process_cpu_seconds(pid) for pid in process_tree(process.pid))
    return found


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


def _per_email_ms(cpu: dict[str, float], emails: int) -> dict[str, float]:
    return {name: round(seconds / emails * 1000, 3) for name, seconds in cpu.items()}


def _wait_settled(client: HeraldClient, campaign_id: str, expected: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    unchanged_since = time.monotonic()
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = client.campaign_stats(campaign_id)
        snapshot = {k: v for k, v in stats.items() if k != "updatedAt"}
        if snapshot != last:
            last, unchanged_since = snapshot, time.monotonic()
        done = stats.get("status") == "sent" and int(stats.get("delivered", 0)) >= expected
        if done and time.monotonic() - unchanged_since >= SETTLE_SECONDS:
            return stats
        if stats.get("status") in ("failed", "cancelled"):
            break
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"campaign {campaign_id} did not settle with {expected} delivered: {stats}")


def measure_system_cost(recipients: int) -> dict[str, Any]:
    """One campaign of `recipients` emails through a fresh dev stack; CPU per email per process."""
    stack = DevStack(
        prefix=f"cost{os.getpid() % 10000}", ports="free", log_dir=tempfile.mkdtemp(prefix="herald-bench-cost-")
    )
    rows = [{"email": f"reader{i}@example.com", "data": recipient_data(i)} for i in range(recipients)]
    with stack, HeraldClient(stack.urls, stack.token(TENANT, "marketer"), timeout=120) as client:
        client.put_template(TEMPLATE_ID, subject=TEMPLATE.subject, html=TEMPLATE.html, name="Bench newsletter")
        campaign_id = str(
            client.create_campaign(name="System cost", template_id=TEMPLATE_ID, from_address="news@example.com")[
                "campaignId"
            ]
        )
        cpu0, wall0 = herald_cpu(stack), time.perf_counter()
        accepted = 0
        for start in range(0, recipients, INTAKE_CHUNK):
            accepted += int(client.add_recipients(campaign_id, rows[start : start + INTAKE_CHUNK])["accepted"])
        cpu1, wall1 = herald_cpu(stack), time.perf_counter()
        time.sleep(IDLE_SECONDS)
        cpu2 = herald_cpu(stack)
        wall2 = time.perf_counter()
        client.send_campaign(campaign_id)
        timeout = max(MIN_TIMEOUT_SECONDS, recipients * TIMEOUT_SECONDS_PER_EMAIL)
        stats = _wait_settled(client, campaign_id, accepted, timeout)
        cpu3, wall3 = herald_cpu(stack), time.perf_counter()
    intake, idle, send = _delta(cpu1, cpu0), _delta(cpu2, cpu1), _delta(cpu3, cpu2)
    total = {name: intake[name] + send[name] for name in cpu0}
    per_email = _per_email_ms(total, accepted)
    herald_ms = round(sum(per_email[name] for name in SERVICES), 3)
    return {
        # the columns of bench/run.py's table: one "call" is one email, CPU is the four Herald processes'
        "calls": accepted,
        "concurrency": None,
        "errors": recipients - int(stats.get("delivered", 0)),
        "cpuMicrosPerCall": round(herald_ms * 1000, 1),
        "callsPerCpuSecond": round(1000 / herald_ms, 1) if herald_ms else None,
        "wallCallsPerSecond": round(accepted / (wall3 - wall2), 1),
        "recipients": recipients,
        "msPerEmail": {name: per_email[name] for name in SERVICES} | {"total": herald_ms},
        "vcpuHoursPerMillionEmails": round(herald_ms * 1000 / 3600, 3),  # ms/email x 1e6 emails / 1e3 / 3600 s/h
        "targetMsPerEmail": TARGET_MS_PER_EMAIL,
        "emulatorMsPerEmail": per_email["emulator"],
        "phases": {
            "intakeMsPerEmail": _per_email_ms(intake, accepted),
            "sendMsPerEmail": _per_email_ms(send, accepted),
            "idleCpuPercent": {name: round(idle[name] / (wall2 - wall1) * 100, 2) for name in idle},
        },
        "wallSeconds": {
            "intake": round(wall1 - wall0, 1),
            "idle": round(wall2 - wall1, 1),
            "send": round(wall3 - wall2, 1),
        },
        "stats": {k: stats.get(k) for k in ("recipients", "sent", "delivered", "bounced", "failed", "unknown")},
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
    }


async def system_cost(ctx: BenchContext) -> dict[str, Any]:  # noqa: ARG001 - sized by its own variable, not --calls
    """`HERALD_BENCH_SYSTEM_RECIPIENTS` emails (default 10,000) through the whole stack; see the module doc."""
    return await asyncio.to_thread(measure_system_cost, RECIPIENTS)
