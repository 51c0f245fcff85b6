"""The hostile payloads of issue 5 against a real `herald-template` process (uvicorn, its own event loop and threads).

Each payload must get its 422 within about a second, and the service must go on answering other requests, health
checks and ordinary renders alike, while hostile renders run.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_cli.stack import serving
from herald_common.auth import mint_token
from tests.timing import process_cpu_seconds

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from herald_template.config import Settings

pytestmark = [pytest.mark.timing, pytest.mark.timeout(90)]

HOSTILE = [
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "RenderLimitExceeded"),
    ("{{ 'a' * 10**9 }}", "RenderLimitExceeded"),
    ("{{ 10**100000 }}", "RenderLimitExceeded"),
    ("{{ ''.__class__.__mro__ }}", "UnsafeTemplate"),
    ("{{ x|attr('__globals__') }}", "UnsafeTemplate"),
    ("{{ cycler.__init__.__globals__ }}", "UnsafeTemplate"),
    # The same reach and the same loop, but only visible at render time (no constant for the compiler to see):
    ("{{ cycler|attr(name) }}", "UnsafeTemplate"),
    ("{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}", "RenderLimitExceeded"),
]
ORDINARY = {"subject": "Hi {{ name }}", "html": "<p>Hello {{ name }}</p>"}
# The render limit is 1 s of the render thread's CPU; the rest is room for the garbage collector and the request.
ABOUT_A_SECOND = 2.0
# The payload that runs until the CPU limit stops it (the others are refused before rendering or stopped by the size
# limit within milliseconds): while it runs, ordinary requests must be answered.
RUN_TO_THE_LIMIT = {HOSTILE[-1][0]}


@pytest.fixture(scope="module")
async def live(
    template_settings: Settings, free_port: Callable[[], int]
) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    port = free_port()
    env = os.environ | {
        "HERALD_RESOURCE_PREFIX": template_settings.resource_prefix,
        "AWS_ENDPOINT_URL": template_settings.aws_endpoint_url or "",
    }
    token = mint_token(template_settings, tenant_id="tenant-live", roles=("viewer",))
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "herald_template", "--port", str(port)]
    with serving(command, url, env=env, name="herald-template") as process:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            yield client, process.pid


def _hostile_body(html: str) -> dict[str, Any]:
    return {
        "subject": "s",
        "html": html,
        "recipients": [{"email": "a@example.com", "data": {"name": "__init__", "n": 10000, "x": 1}}],
    }


async def _ordinary(client: httpx.AsyncClient, i: int) -> bool:
    body = ORDINARY | {"recipients": [{"email": f"r{i}@example.com", "data": {"name": f"n{i}"}}]}
    answer = await client.post("/render", json=body)
    return answer.status_code == 200 and answer.json()["results"][0]["html"] == f"<p>Hello n{i}</p>"


async def test_each_payload_is_422_in_about_a_second_while_other_requests_are_served(
    live: tuple[httpx.AsyncClient, int],
) -> None:
    client, pid = live
    for html, error in HOSTILE:
        cpu = process_cpu_seconds(pid)
        hostile = asyncio.create_task(client.post("/render", json=_hostile_body(html)))
        served_meanwhile = 0
        ordinary_ok: list[bool] = []
        while not hostile.done():  # ordinary traffic for as long as the hostile render runs
            health = await client.get("/healthz")
            ordinary_ok.append(health.status_code == 200)
            ordinary_ok.append(await _ordinary(client, len(ordinary_ok)))
            served_meanwhile += not hostile.done()
        answer = await hostile
        assert (answer.status_code, answer.json()["error"]) == (422, error), html
        # The service's CPU, not the wall clock: on a busy machine the same work takes longer, not more.
        assert process_cpu_seconds(pid) - cpu < ABOUT_A_SECOND, html
        assert all(ordinary_ok), html
        if html in RUN_TO_THE_LIMIT:
            assert served_meanwhile >= 1, f"no ordinary request was answered during the hostile render of {html}"


async def test_all_payloads_at_once_leave_the_service_healthy(live: tuple[httpx.AsyncClient, int]) -> None:
    client, pid = live
    cpu = process_cpu_seconds(pid)
    hostile = [asyncio.create_task(client.post("/render", json=_hostile_body(html))) for html, _ in HOSTILE]
    # Once the service has spent a tenth of a second on them, the two render threads are busy with the slow ones.
    while process_cpu_seconds(pid) - cpu < 0.1:
        assert not all(task.done() for task in hostile), "the hostile renders ended before the service was busy"
        await asyncio.sleep(0.01)
    assert (await client.get("/healthz")).status_code == 200  # the event loop is free while every worker is busy
    assert not all(task.done() for task in hostile), "the health check was answered while hostile renders ran"
    answers = await asyncio.gather(*hostile)
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(422, error) for _, error in HOSTILE]
    # Two render threads take the eight in turn: the slow ones cost about a second of CPU each.
    assert process_cpu_seconds(pid) - cpu < 4 * ABOUT_A_SECOND
    assert await _ordinary(client, 0), "an ordinary render after the storm"
