"""The render routes over ASGI: per-recipient results, inline templates, hostile templates, staying healthy."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx


NEWS = {
    "name": "News",
    "subject": "Hi {{ first_name }}",
    "html": '<p>Hello {{ first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
}
SLOW = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


def _rendering() -> bool:
    """Whether one of the service's render threads is inside a render right now."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if not names.get(ident, "").startswith("herald-render"):
            continue
        current = frame
        while current is not None:
            if current.f_code.co_name == "_render_batch":
                return True
            current = current.f_back
    return False


async def put(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], template_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/templates/{template_id}", json=body, headers=auth("marketer"))


# --- rendering -----------------------------------------------------------------------------------------------------


async def test_render_a_stored_version_per_recipient(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    await put(client, auth, "news", NEWS)
    await put(client, auth, "news", {**NEWS, "subject": "Second {{ first_name }}"})
    body = {
        "version": 1,
        "recipients": [
            {
                "email": "ada@example.com",
                "data": {"first_name": "<script>x</script>"},
                "unsubscribeUrl": "https://h.example/u/t1",
            },
            {"email": "bob@example.com", "data": None},
            {"email": "cy@example.com", "data": {"first_name": "Cy"}},
        ],
    }
    answer = await client.post("/templates/news/render", json=body, headers=auth("viewer"))
    assert answer.status_code == 200
    payload = answer.json()
    assert (payload["templateId"], payload["version"]) == ("news", 1)
    ada, bob, cy = payload["results"]
    assert ada == {
        "email": "ada@example.com",
        "subject": "Hi <script>x</script>",
        "html": '<p>Hello &lt;script&gt;x&lt;/script&gt;</p><a href="https://h.example/u/t1">Unsubscribe</a>',
        "text": "Hello <script>x</script>\nUnsubscribe (https://h.example/u/t1)",
    }
    assert bob == {"email": "bob@example.com", "error": "subject line 1: 'first_name' is undefined"}
    assert cy["subject"] == "Hi Cy"
    assert 'href="#unsubscribe"' in cy["html"]


async def test_render_defaults_to_the_latest_version(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    await put(client, auth, "news", NEWS)
    await put(client, auth, "news", {**NEWS, "subject": "Second"})
    answer = await client.post(
        "/templates/news/render",
        json={"recipients": [{"email": "a@example.com", "data": {"first_name": "A"}}]},
        headers=auth("viewer"),
    )
    assert answer.json()["version"] == 2
    assert answer.json()["results"][0]["subject"] == "Second"


async def test_inline_render(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    body = {
        "subject": "Hi {{ email }}",
        "html": "<b>{{ n }}</b>",
        "text": "n={{ n }}",
        "recipients": [{"email": "a@example.com", "data": {"n": 1}}],
    }
    answer = await client.post("/render", json=body, headers=auth("viewer"))
    assert answer.status_code == 200
    assert answer.json() == {
        "templateId": None,
        "version": None,
        "results": [{"email": "a@example.com", "subject": "Hi a@example.com", "html": "<b>1</b>", "text": "n=1"}],
    }


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "RenderLimitExceeded"),
        ("{{ 'a' * 10**9 }}", "RenderLimitExceeded"),
        ("{{ 10**100000 }}", "RenderLimitExceeded"),
        (SLOW, "RenderLimitExceeded"),
        ("{{ ''.__class__.__mro__ }}", "UnsafeTemplate"),
        ("{{ x|attr('__globals__') }}", "UnsafeTemplate"),
        ("{{ cycler.__init__.__globals__ }}", "UnsafeTemplate"),
        ("{{ cycler|attr(name) }}", "UnsafeTemplate"),
    ],
)
@pytest.mark.timing
async def test_hostile_inline_templates_are_422_within_about_a_second(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], html: str, error: str
) -> None:
    body = {
        "subject": "s",
        "html": html,
        "recipients": [{"email": "a@example.com", "data": {"x": 1, "name": "__init__"}}],
    }
    cpu = time.process_time()  # the render's worker thread is in this process
    answer = await client.post("/render", json=body, headers=auth("viewer"))
    assert time.process_time() - cpu < 2.5  # the limit is 1 s of the render thread's CPU
    assert answer.status_code == 422
    assert answer.json()["error"] == error


async def test_a_stored_runaway_template_is_422_at_render(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    assert (await put(client, auth, "runaway", {"subject": "s", "html": "{{ 'a' * 10**9 }}"})).status_code == 201
    answer = await client.post(
        "/templates/runaway/render", json={"recipients": [{"email": "a@example.com"}]}, headers=auth("viewer")
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "RenderLimitExceeded"


@pytest.mark.timing
async def test_the_service_keeps_answering_during_a_hostile_render(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    body = {"subject": "s", "html": SLOW, "recipients": [{"email": "a@example.com"}]}
    hostile = asyncio.create_task(client.post("/render", json=body, headers=auth("viewer")))
    while not _rendering():  # wait for the render to be under way in its worker thread
        assert not hostile.done(), "the render ended before it was seen running"
        await asyncio.sleep(0.01)
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert _rendering(), "the health check was answered while the render ran"
    assert not hostile.done()
    assert (await hostile).status_code == 422


async def test_readiness_checks_the_bucket(client: httpx.AsyncClient) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready"}
