"""The asynchronous renderer: work happens off the event loop, caches, and the per-call bound."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from herald_template.rendering import (
    Recipient,
    RenderedEmail,
    RenderFailure,
    RenderLimitExceeded,
    RenderLimits,
    SandboxRenderer,
    TemplateSource,
)
from herald_template.rendering.runner import data_fingerprint

if TYPE_CHECKING:
    from collections.abc import Iterator

SLOW = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def renderer() -> Iterator[SandboxRenderer]:
    instance = SandboxRenderer(RenderLimits(), workers=2)
    yield instance
    instance.close()


async def test_a_hostile_render_does_not_block_the_event_loop(renderer: SandboxRenderer) -> None:
    compiled = await renderer.compile(TemplateSource("s", SLOW))
    task = asyncio.create_task(renderer.render(compiled, [Recipient("a@example.com")]))
    gaps, last = [], time.monotonic()
    while not task.done():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    with pytest.raises(RenderLimitExceeded):
        task.result()
    assert len(gaps) > 20
    assert max(gaps) < 0.3  # the loop kept turning while the template ran


async def test_one_bad_recipient_does_not_fail_the_others(renderer: SandboxRenderer) -> None:
    compiled = await renderer.compile(TemplateSource("Hi {{ name }}", "<p>{{ name }}</p>"))
    people = [
        Recipient("a@example.com", {"name": "A"}),
        Recipient("b@example.com"),
        Recipient("c@example.com", {"name": "C"}),
    ]
    results = await renderer.render(compiled, people)
    assert [type(r) for r in results] == [RenderedEmail, RenderFailure, RenderedEmail]
    assert [r.email for r in results] == ["a@example.com", "b@example.com", "c@example.com"]


async def test_compiled_templates_are_cached_by_key(renderer: SandboxRenderer) -> None:
    assert renderer.cached("k") is None
    first = await renderer.compile(TemplateSource("s", "x"), "k")
    assert renderer.cached("k") is first
    assert await renderer.compile(TemplateSource("s", "something else"), "k") is first


async def test_identical_data_reuses_the_rendered_email(renderer: SandboxRenderer) -> None:
    compiled = await renderer.compile(TemplateSource("s", "<p>{{ name }}</p>"), "t1")
    people = [Recipient("a@example.com", {"name": "Same", "unused": 1}), Recipient("b@example.com", {"name": "Same"})]
    first, second = await renderer.render(compiled, people, "t1")
    assert isinstance(first, RenderedEmail)
    assert isinstance(second, RenderedEmail)
    assert second.html is first.html  # served from the cache: the template does not read `email` or `unused`
    assert second.email == "b@example.com"


async def test_templates_that_read_email_are_not_shared(renderer: SandboxRenderer) -> None:
    compiled = await renderer.compile(TemplateSource("s", "<p>{{ email }}</p>"), "t2")
    first, second = await renderer.render(compiled, [Recipient("a@example.com"), Recipient("b@example.com")], "t2")
    assert isinstance(first, RenderedEmail)
    assert isinstance(second, RenderedEmail)
    assert (first.html, second.html) == ("<p>a@example.com</p>", "<p>b@example.com</p>")


def test_fingerprint_reads_only_the_template_variables() -> None:
    names = frozenset({"name"})
    assert data_fingerprint(names, {"name": "x", "other": 1}) == data_fingerprint(names, {"name": "x"})
    assert data_fingerprint(names, {"name": "x"}) != data_fingerprint(names, {"name": "y"})
    assert data_fingerprint(names, {}) != data_fingerprint(names, {"name": None})


async def test_the_whole_call_has_a_time_bound() -> None:
    renderer = SandboxRenderer(RenderLimits(time_limit_seconds=5), call_time_limit=0.3)
    try:
        compiled = await renderer.compile(
            TemplateSource("s", "{% for i in range(10000) %}{% for j in range(20) %}{% endfor %}{% endfor %}")
        )
        started = time.monotonic()
        with pytest.raises(RenderLimitExceeded, match="call limit"):
            await renderer.render(compiled, [Recipient(f"r{i}@example.com", {"i": i}) for i in range(200)])
        assert time.monotonic() - started < 2
    finally:
        renderer.close()
