"""What a render costs the template service: plain sandboxed Jinja2 and Herald's bounded sandbox in this process,
against the render API over HTTP.

All three render the same newsletter (a 3 KB template: 10 articles with links, `truncate`, `format`, conditions;
about 7 KB of HTML) for recipients with distinct data (so the rendered-email cache never hits: this is the cost of
real personalisation), with the text part generated from the HTML, as a send does.

- `plain`: Jinja2's `ImmutableSandboxedEnvironment` without any bound, called in a loop on one thread.
- `ceiling`: `RenderEngine.render` (the bounded sandbox) called in a loop on one thread, no HTTP, no JSON.
- `api`: `herald-template` in a subprocess on a free port (uvicorn, its default settings), driven by a pooled
  httpx client with several batches of 50 in flight, `POST /render` (the inline route: it needs no S3, and it
  costs what the stored route costs once the pinned version is compiled and cached).

`costOverPlain` = service CPU per render / plain Jinja2's CPU per render (the target: at most 2);
`costOverBounded` = the same over the bounded sandbox's in-process CPU per render.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from herald_cli.stack import free_port, serving
from herald_common.auth import mint_token
from herald_common.settings import HeraldSettings
from herald_template.rendering import Recipient, RenderedEmail, RenderEngine, RenderLimits, TemplateSource
from herald_template.rendering.text import html_to_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BATCH_SIZE = 50  # the processor's default batch
IN_FLIGHT = 4  # concurrent render calls (a few processor workers)
ROUNDS = 3
ARTICLES = 10  # per recipient, each with its own link, summary (truncated) and rating (formatted)
_START_TIMEOUT = 30.0


class _Context(Protocol):
    @property
    def calls(self) -> int: ...


SUBJECT = "{{ first_name }}, your {{ month }} Herald newsletter{% if points > 1000 %} ({{ points }} points!){% endif %}"

_ARTICLE = """
<tr><td class="article">
  <h2><a href="https://news.example.com/{{ article.slug }}?utm_source=herald&amp;utm_campaign={{ month|lower }}">
    {{ article.title }}</a></h2>
  <p>{{ article.summary|truncate(180) }}</p>
  <p class="meta">{{ article.minutes }} min read &middot; {{ article.tag|upper }}
    &middot; rated {{ "%.1f"|format(article.rating) }}{% if article.rating >= 4.5 %} &#9733;{% endif %}</p>
</td></tr>"""

NEWSLETTER_HTML = (
    """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Herald newsletter, {{ month }}</title>
<style>body{font-family:Helvetica,Arial,sans-serif;color:#222}h1{color:#0a4b78}.article{padding:12px 0}
.meta{color:#777;font-size:12px}.footer{color:#999;font-size:11px}</style></head>
<body><table width="100%" cellpadding="0" cellspacing="0"><tr><td>
<h1>Hello {{ first_name|title }}!</h1>
<p>Here is what happened at Herald in {{ month }}, picked for readers in {{ city }}.
{% if plan == "pro" %}As a Pro member you get early access to everything below.{% else %}Upgrade to Pro to get
early access to new features.{% endif %}</p>
<p>You have <strong>{{ "{:,}".format(points) }}</strong> loyalty points
{%- if points > 1000 %}, enough for a free month{% endif %}.</p>
</td></tr>
{% for article in articles %}"""
    + _ARTICLE
    + """{% endfor %}
<tr><td>
<h2>Also this month</h2>
<ul>
{% for item in ["Faster sends: batches of 50 in one call", "Live statistics within two seconds",
  "A suppression list that looks after your reputation", "Throttles per campaign and per account"] %}
  <li>{{ item }}</li>
{% endfor %}
</ul>
<p>"""
    + "Herald sends your campaigns through Amazon SES within your rate limits and keeps live statistics. " * 14
    + """</p>
</td></tr>
<tr><td class="footer">
<p>You receive this email as {{ email }} because you subscribed to the Herald newsletter.
<a href="{{ unsubscribe_url }}">Unsubscribe</a> in one click, any time.</p>
<p>Herald Inc., 1 Example Street, {{ city }}.</p>
</td></tr></table></body></html>
"""
)

TEMPLATE = TemplateSource(SUBJECT, NEWSLETTER_HTML)


def recipient_data(i: int) -> dict[str, Any]:
    """Distinct personalisation per recipient: no two render the same email."""
    return {
        "first_name": f"reader {i}",
        "city": ("Lisbon", "Oslo", "Lagos", "Lima")[i % 4],
        "plan": "pro" if i % 3 == 0 else "free",
        "points": (i * 37) % 2000,
        "month": "November",
        "articles": [
            {
                "slug": f"story-{i}-{n}",
                "title": f"Story {n} for reader {i}: what <good> email looks like",
                "summary": "A look at deliverability, templates and the small things that make readers click. " * 3,
                "minutes": 3 + n,
                "tag": ("product", "guide", "news")[n % 3],
                "rating": 3 + (i + n) % 21 / 10,
            }
            for n in range(ARTICLES)
        ],
    }


def _recipient(i: int) -> dict[str, Any]:
    return {"email": f"reader{i}@example.com", "data": recipient_data(i), "unsubscribeUrl": f"https://h.example/u/{i}"}


def _people(recipients: int, first: int) -> list[Recipient]:
    return [
        Recipient(r["email"], r["data"], r["unsubscribeUrl"]) for r in map(_recipient, range(first, first + recipients))
    ]


def _timed_renders(render: Callable[[Recipient], RenderedEmail], people: list[Recipient]) -> dict[str, Any]:
    """Render everyone on this thread after a warm-up; CPU is this thread's."""
    sample = render(people[0])
    for person in people[:50]:  # warm-up
        render(person)
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for person in people:
        render(person)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return {
        "renders": len(people),
        "htmlBytes": len(sample.html.encode()),
        "textBytes": len(sample.text.encode()),
        "wallSeconds": round(wall, 3),
        "cpuSeconds": round(cpu, 3),
        "cpuMicrosPerRender": round(cpu / len(people) * 1e6, 1),
        "rendersPerSecond": round(len(people) / wall, 1),
        "rendersPerCpuSecond": round(len(people) / cpu, 1),
    }


def measure_ceiling(recipients: int, first: int = 0) -> dict[str, Any]:
    """Herald's bounded sandbox alone: compile once, render `recipients` emails on this thread."""
    engine = RenderEngine(RenderLimits())
    compiled = engine.compile(TEMPLATE)

    def render(person: Recipient) -> RenderedEmail:
        result = engine.render(compiled, person)
        assert isinstance(result, RenderedEmail), result
        return result

    return _timed_renders(render, _people(recipients, first))


def measure_plain(recipients: int, first: int = 0) -> dict[str, Any]:
    """Plain `ImmutableSandboxedEnvironment` (no bounds at all) producing the same email: subject, autoescaped HTML
    and the text part made from the HTML by the same function the service uses (a send needs all three, so the
    reference does the same work; only the bounds differ)."""
    subject = ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(TEMPLATE.subject)
    html = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined).from_string(TEMPLATE.html)

    def render(person: Recipient) -> RenderedEmail:
        variables = person.variables()
        body = html.render(variables)
        return RenderedEmail(person.email, " ".join(subject.render(variables).split()), body, html_to_text(body))

    return _timed_renders(render, _people(recipients, first))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process (all its threads) from /proc; 0 if it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (from /proc/PID/task/*/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


@dataclass(frozen=True)
class ServiceProcess:
    url: str
    settings: HeraldSettings  # what its tokens are minted with
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU the service has used so far: every thread, and any worker processes it runs."""
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.pid))


@contextmanager
def running_template_service(env: dict[str, str] | None = None) -> Iterator[ServiceProcess]:
    """`herald-template` in a subprocess on a free port, its default settings (plus `env`); stopped on exit."""
    port = free_port()
    settings = HeraldSettings(resource_prefix="bench", aws_endpoint_url="http://127.0.0.1:9")  # S3 is never called
    child_env = os.environ | {
        "HERALD_RESOURCE_PREFIX": settings.resource_prefix,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    service_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "herald_template", "--port", str(port)]
    with serving(
        command, service_url, env=child_env | (env or {}), timeout=_START_TIMEOUT, name="herald-template"
    ) as process:
        yield ServiceProcess(service_url, settings, process.pid)


def _bodies(first: int, batches: int) -> list[dict[str, Any]]:
    return [
        {
            "subject": TEMPLATE.subject,
            "html": TEMPLATE.html,
            "recipients": [_recipient(first + b * BATCH_SIZE + i) for i in range(BATCH_SIZE)],
        }
        for b in range(batches)
    ]


async def measure_api(service: ServiceProcess, recipients: int, first: int = 0) -> dict[str, Any]:
    """`recipients` renders as batches of 50 through `POST /render`, `IN_FLIGHT` calls at a time, one pooled client.

    Recipients are numbered from `first`: give every call fresh numbers, or the service's render cache answers.
    CPU is the service process's (what rendering costs the template service), not this client's.
    """
    bodies = _bodies(first, recipients // BATCH_SIZE)
    errors = rendered = 0
    token = mint_token(service.settings, tenant_id="bench", roles=("viewer",))
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=service.url, headers=headers, limits=limits, timeout=60) as client:
        await asyncio.gather(*(client.get("/healthz") for _ in range(IN_FLIGHT)))  # open the pooled connections
        queue = iter(bodies)

        async def worker() -> None:
            nonlocal errors, rendered
            for body in queue:
                answer = await client.post("/render", json=body)
                if answer.status_code != 200:
                    errors += 1
                    continue
                results = answer.json()["results"]
                rendered += sum(1 for r in results if "html" in r)
                errors += sum(1 for r in results if "error" in r)

        cpu0, wall0 = service.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        cpu, wall = service.cpu_seconds() - cpu0, time.perf_counter() - wall0
    return {
        "renders": rendered,
        "batches": len(bodies),
        "batchSize": BATCH_SIZE,
        "inFlight": IN_FLIGHT,
        "errors": errors,
        "wallSeconds": round(wall, 3),
        "serviceCpuSeconds": round(cpu, 3),
        "rendersPerSecond": round(rendered / wall, 1),
        "rendersPerCpuSecond": round(rendered / cpu, 1) if cpu else None,
    }


async def template_render(ctx: _Context) -> dict[str, Any]:
    """Plain Jinja2, the bounded sandbox and the API, measured turn about in rounds, and their cost ratios.

    The machine is shared, so wall-clock rates move with other people's load, and they favour the API side, which
    runs in two processes (client and service) against the in-process sides' one. The headline ratios therefore
    compare CPU per render: of the rendering thread in-process, of the whole service (every process and thread:
    event loop, HTTP, JSON, validation, rendering) for the API. The best round of each side is kept, and every round
    is reported.
    """
    per_round = max(ctx.calls // ROUNDS // BATCH_SIZE, IN_FLIGHT) * BATCH_SIZE
    plains, ceilings, apis = [], [], []
    with running_template_service() as service:
        await measure_api(service, BATCH_SIZE * IN_FLIGHT, first=10**7)  # warm-up: the compile, the connections
        for n in range(ROUNDS):
            plains.append(measure_plain(per_round, first=n * per_round))
            ceilings.append(measure_ceiling(per_round, first=n * per_round))
            apis.append(await measure_api(service, per_round, first=10**6 + n * per_round))
    plain = max(plains, key=lambda r: r["rendersPerCpuSecond"])
    ceiling = max(ceilings, key=lambda r: r["rendersPerCpuSecond"])
    api = max(apis, key=lambda r: r["rendersPerCpuSecond"] or 0)
    api_micros = 1e6 / api["rendersPerCpuSecond"] if api["rendersPerCpuSecond"] else None
    return {
        # the columns of bench/run.py's table: one "call" is one recipient rendered through the API
        "calls": sum(r["renders"] for r in apis),
        "concurrency": IN_FLIGHT,
        "errors": sum(r["errors"] for r in apis),
        "callsPerCpuSecond": api["rendersPerCpuSecond"],
        "cpuMicrosPerCall": round(api_micros, 1) if api_micros else None,
        "wallCallsPerSecond": max(r["rendersPerSecond"] for r in apis),
        "plain": plain,
        "ceiling": ceiling,
        "api": api,
        # service CPU per render over plain sandboxed Jinja2's (target at most 2) and over the bounded sandbox's
        "costOverPlain": round(api_micros / plain["cpuMicrosPerRender"], 2) if api_micros else None,
        "costOverBounded": round(api_micros / ceiling["cpuMicrosPerRender"], 2) if api_micros else None,
        "boundedOverPlain": round(ceiling["cpuMicrosPerRender"] / plain["cpuMicrosPerRender"], 2),
        "target": {"costOverPlain": 2.0},
        "rounds": [
            {
                "plainMicros": p["cpuMicrosPerRender"],
                "boundedMicros": c["cpuMicrosPerRender"],
                "apiMicros": round(1e6 / a["rendersPerCpuSecond"], 1) if a["rendersPerCpuSecond"] else None,
                "apiWall": a["rendersPerSecond"],
            }
            for p, c, a in zip(plains, ceilings, apis, strict=True)
        ],
    }
