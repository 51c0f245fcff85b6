"""`herald demo`: one campaign through the whole pipeline, watched live, against any running stack.

Everything goes through the public REST APIs (SPEC.md), exactly as a user's own code would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from herald_cli.client import HeraldApiError
from herald_cli.demo_data import SIMULATOR_DOMAIN, demo_recipients

if TYPE_CHECKING:
    from rich.console import Console

    from herald_cli.client import HeraldClient, JsonObject
    from herald_cli.demo_data import DemoExpectation

TEMPLATE_ID = "newsletter"
FROM_ADDRESS = "news@example.com"
SUBJECT = "{{ first_name }}, the Herald newsletter is here"
HTML = """<html><body>
<h1>Hello {{ first_name }}!</h1>
<p>This month: faster sends, live statistics and a suppression list that looks after your reputation.</p>
<p>Your customer number is {{ customer_no }}.</p>
<p style="font-size:small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""
TEXT = (
    "Hello {{ first_name }}!\n\nThis month: faster sends and live statistics.\n\nUnsubscribe: {{ unsubscribe_url }}\n"
)
FAILED_STATUSES = frozenset({"failed", "cancelled"})
# Counters shown live and in the final table, in reading order.
STAT_KEYS = (
    "recipients", "queued", "sent", "delivered", "bounced", "softBounced", "complained", "rejected", "failed",
    "suppressed", "invalid", "unknown", "opened", "clicked", "deliveryRate", "bounceRate", "complaintRate",
)  # fmt: skip


@dataclass
class DemoOptions:
    recipients: int = 1000
    timeout: float = 150.0  # the whole send, from the 202 to settled statistics
    settle_seconds: float = 2.0  # `sent`, and no counter moved for this long: late SES events have arrived
    poll_interval: float = 0.5
    emails_per_minute: int | None = None  # campaign throttle; None leaves the service's default


@dataclass
class DemoResult:
    campaign_id: str
    expectation: DemoExpectation
    intake: JsonObject
    stats: JsonObject = field(default_factory=dict)
    settled: bool = False
    elapsed: float = 0.0

    def mismatches(self) -> dict[str, tuple[int, Any]]:
        """Expected counters that the final statistics contradict (a counter the service does not report is skipped)."""
        observed = {f"intake.{k}": self.intake.get(k) for k in self.expectation.intake()}
        observed |= {k: self.stats[k] for k in self.expectation.stats() if k in self.stats}
        expected = {f"intake.{k}": v for k, v in self.expectation.intake().items()} | self.expectation.stats()
        return {k: (v, observed[k]) for k, v in expected.items() if k in observed and observed[k] != v}


def run_demo(client: HeraldClient, console: Console, options: DemoOptions) -> DemoResult:
    """Create the template and the campaign, send it, and follow its statistics until they settle."""
    rows, expectation = demo_recipients(options.recipients)
    version = client.put_template(TEMPLATE_ID, subject=SUBJECT, html=HTML, text=TEXT, name="Herald newsletter")
    console.print(f"template [bold]{TEMPLATE_ID}[/] saved as version {version.get('version')}")
    # A demo run on a stack that already ran one would find last run's bounces and complaints suppressed: clear
    # them so every run shows the simulator's outcomes.
    for email in {r["email"].lower() for r in rows if r["email"].lower().endswith(f"@{SIMULATOR_DOMAIN}")}:
        client.delete_suppression(email)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    campaign = client.create_campaign(
        name=f"Herald demo {stamp}", template_id=TEMPLATE_ID, from_address=FROM_ADDRESS, from_name="Herald Demo"
    )
    campaign_id = str(campaign["campaignId"])
    intake = client.add_recipients(campaign_id, rows)
    console.print(
        f"campaign [bold]{campaign_id}[/]: {intake.get('accepted')} accepted, {intake.get('invalid')} invalid, "
        f"{intake.get('duplicates')} duplicates of {intake.get('total')} rows"
    )
    throttle = {"emailsPerMinute": options.emails_per_minute} if options.emails_per_minute else None
    sent = client.send_campaign(campaign_id, throttle=throttle)
    console.print(f"send accepted: status [bold]{sent.get('status')}[/]")
    result = DemoResult(campaign_id=campaign_id, expectation=expectation, intake=intake)
    _follow(client, console, options, result, total=int(intake.get("accepted") or expectation.valid_unique))
    return result


def _follow(client: HeraldClient, console: Console, options: DemoOptions, result: DemoResult, total: int) -> None:
    started = time.monotonic()
    deadline = started + options.timeout
    last_snapshot: dict[str, Any] | None = None
    unchanged_since = started
    columns = (
        TextColumn("[bold]{task.fields[status]:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("sending", total=total, status="sending", detail="")
        while time.monotonic() < deadline:
            stats = _poll(client, result.campaign_id)
            if stats is not None:
                result.stats = stats
                final = max(0, total - int(stats.get("queued", total)))
                detail = " · ".join(f"{k} {stats[k]}" for k in ("delivered", "bounced", "complained") if k in stats)
                progress.update(task, completed=final, status=stats.get("status", "?"), detail=detail)
                snapshot = {k: v for k, v in stats.items() if k != "updatedAt"}
                if snapshot != last_snapshot:
                    last_snapshot, unchanged_since = snapshot, time.monotonic()
                if stats.get("status") in FAILED_STATUSES:
                    break
                if stats.get("status") == "sent" and time.monotonic() - unchanged_since >= options.settle_seconds:
                    result.settled = True
                    break
            time.sleep(options.poll_interval)
    result.elapsed = time.monotonic() - started


def _poll(client: HeraldClient, campaign_id: str) -> JsonObject | None:
    # A restart or a slow answer is not the demo's failure: the next poll tries again, the timeout bounds it.
    try:
        return client.campaign_stats(campaign_id)
    except (HeraldApiError, httpx.HTTPError):
        return None


def stats_table(result: DemoResult) -> Table:
    table = Table(title=f"Final statistics · {result.campaign_id} · {result.stats.get('status', '?')}")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for key in STAT_KEYS:
        if key in result.stats:
            value = result.stats[key]
            table.add_row(key, f"{value:.1%}" if isinstance(value, float) else str(value))
    return table


def expectation_table(result: DemoResult) -> Table:
    """What the addresses the demo used should produce, beside what Herald reported."""
    e = result.expectation
    table = Table(title=f"What the demo expected from its {e.rows} rows")
    for name, justify in (("counter", "left"), ("because", "left"), ("expected", "right"), ("observed", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("")
    reasons = {
        "intake.accepted": "unique, well-formed addresses",
        "intake.invalid": "malformed (not-an-email, a@@b, …)",
        "intake.duplicates": "repeats, exact or in another case",
        "intake.total": "rows posted",
        "recipients": "accepted + invalid",
        "sent": "every accepted address but ooto@",
        "delivered": f"{e.ordinary} @example.com + success@ + complaint@",
        "bounced": f"bounce@ and bounce+1…{e.hard_bounces - 1}@ (hard)",
        "softBounced": "ooto@ (transient)",
        "failed": "ooto@ (soft bounce, every retry too)",
        "complained": "complaint@ (after delivery)",
        "invalid": "rejected at intake",
    }
    observed = {f"intake.{k}": result.intake.get(k) for k in e.intake()} | result.stats
    expected = {f"intake.{k}": v for k, v in e.intake().items()} | e.stats()
    for key, value in expected.items():
        seen = observed.get(key)
        mark = "" if seen is None else ("[green]✓[/]" if seen == value else "[red]✗[/]")
        table.add_row(key, reasons.get(key, ""), str(value), "—" if seen is None else str(seen), mark)
    return table
