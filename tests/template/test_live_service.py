"""The hostile payloads of issue 5 against a real `herald-template` process (uvicorn, its own event loop and threads).

Each payload must get its 422 within about a second, and the service must go on answering other requests, health
checks and ordinary renders alike, while hostile renders run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_cli.stack import serving
from herald_common.auth import mint_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from herald_template.config import Settings

pytestmark = pytest.mark.timeout(90)

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
ABOUT_A_SECOND = 2.0  # the render limit is 1 s; the rest is room for a busy shared machine


@pytest.fixture(scope="module")
async def live(template_settings: Settings, free_port: Callable[[], int]) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    env = os.environ | {
        "HERALD_RESOURCE_PREFIX": template_settings.resource_prefix,
        "AWS_ENDPOINT_URL": template_settings.aws_endpoint_url or "",
    }
    token = mint_token(template_settings, tenant_id="tenant-live", roles=("viewer",))
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "herald_template", "--port", str(port)]
    with serving(command, url, env=env, name="herald-template"):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=20) as client:
            yield client


def _hostile_body(html: str) -> dict[str, Any]:
    return {
        "subject": "s",
        "html": html,
        "recipients": [{"email": "a@example.com", "data": {"name": "__init__", "n": 10000, "x": 1}}],
    }


async def _post_timed(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await client.post("/render", json=body)
    return answer, time.monotonic() - started


async def test_each_payload_is_422_in_about_a_second_while_other_requests_are_served(
    live: httpx.AsyncClient,
) -> None:
    done = asyncio.Event()
    served: list[tuple[str, int, float]] = []

    async def ordinary_traffic() -> None:
        i = 0
        while not done.is_set():
            i += 1
            started = time.monotonic()
            health = await live.get("/healthz")
            served.append(("healthz", health.status_code, time.monotonic() - started))
            body = ORDINARY | {"recipients": [{"email": f"r{i}@example.com", "data": {"name": f"n{i}"}}]}
            answer, elapsed = await _post_timed(live, body)
            ok = answer.status_code == 200 and answer.json()["results"][0]["html"] == f"<p>Hello n{i}</p>"
            served.append(("render", 200 if ok else answer.status_code, elapsed))
            await asyncio.sleep(0.02)

    traffic = asyncio.create_task(ordinary_traffic())
    try:
        for html, error in HOSTILE:
            answer, elapsed = await _post_timed(live, _hostile_body(html))
            assert (answer.status_code, answer.json()["error"]) == (422, error), html
            assert elapsed < ABOUT_A_SECOND, (html, elapsed)
    finally:
        done.set()
        await traffic
    renders = [s for s in served if s[0] == "render"]
    assert len(renders) >= 5  # ordinary renders really overlapped the hostile ones
    assert all(status == 200 for _, status, _ in served), served
    assert max(elapsed for _, _, elapsed in served) < 1.0  # nobody waited for a hostile render to finish


async def test_all_payloads_at_once_leave_the_service_healthy(live: httpx.AsyncClient) -> None:
    hostile = [asyncio.create_task(_post_timed(live, _hostile_body(html))) for html, _ in HOSTILE]
    await asyncio.sleep(0.3)
    started = time.monotonic()
    assert (await live.get("/healthz")).status_code == 200  # the event loop is free while every worker is busy
    assert time.monotonic() - started < 0.5
    answers = await asyncio.gather(*hostile)
    assert [(a.status_code, a.json()["error"]) for a, _ in answers] == [(422, error) for _, error in HOSTILE]
    # Two render threads take the eight in turn: the slow ones cost about a second each.
    assert max(elapsed for _, elapsed in answers) < 4 * ABOUT_A_SECOND
    body = ORDINARY | {"recipients": [{"email": "after@example.com", "data": {"name": "after"}}]}
    answer, elapsed = await _post_timed(live, body)
    assert answer.status_code == 200
    assert elapsed < 1.0
