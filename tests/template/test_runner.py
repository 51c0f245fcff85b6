"""The asynchronous renderer: work happens off the event loop, caches, and the per-call bound."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from herald_template.rendering import (
    CompiledTemplate,
    Recipient,
    RenderedEmail,
    RenderFailure,
    RenderLimitExceeded,
    RenderLimits,
    RenderResult,
    SandboxRenderer,
    TemplateSource,
)
from herald_template.rendering.lru import LruCache
from herald_template.rendering.runner import data_fingerprint

if TYPE_CHECKING:
    from collections.abc import Iterator

SLOW = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def renderer() -> Iterator[SandboxRenderer]:
    instance = SandboxRenderer(RenderLimits(), workers=2)
    yield instance
    instance.close()


@pytest.mark.timing
async def test_a_hostile_render_does_not_block_the_event_loop(renderer: SandboxRenderer) -> None:
    compiled = await renderer.compile(TemplateSource("s", SLOW))
    task = asyncio.create_task(renderer.render(compiled, [Recipient("a@example.com")]))
    turns = 0
    while not task.done():
        await asyncio.sleep(0.01)
        turns += 1
    with pytest.raises(RenderLimitExceeded):
        task.result()
    # The loop kept turning while the template ran (a second of its thread's CPU); a render on the loop's own thread
    # would have finished before the first turn came back. Counted, not timed: a busy machine slows both alike.
    assert turns > 5


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


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, True),
        (1, 1.0),
        (1, "1"),
        ("x", ["x"]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # a `{% for %}` over a mapping renders its keys in order
        ("<missing>", None),
        ("\x00missing", None),
    ],
)
def test_fingerprint_tells_apart_data_that_renders_differently(one: object, other: object) -> None:
    names = frozenset({"name"})
    assert data_fingerprint(names, {"name": one}) != data_fingerprint(names, {"name": other})
    assert data_fingerprint(names, {"name": one}) != data_fingerprint(names, {})  # nor from a missing variable


async def test_a_mapping_in_another_key_order_is_not_served_from_the_cache(renderer: SandboxRenderer) -> None:
    source = TemplateSource("s", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}")
    compiled = await renderer.compile(source, "order")
    ab, ba = await renderer.render(
        compiled,
        [Recipient("a@example.com", {"d": {"a": 1, "b": 2}}), Recipient("b@example.com", {"d": {"b": 2, "a": 1}})],
        "order",
    )
    assert isinstance(ab, RenderedEmail)
    assert isinstance(ba, RenderedEmail)
    assert (ab.html, ba.html) == ("a=1;b=2;", "b=2;a=1;")


@pytest.mark.timing
async def test_the_whole_call_has_a_time_bound() -> None:
    renderer = SandboxRenderer(RenderLimits(time_limit_seconds=5), call_time_limit=0.3)
    try:
        compiled = await renderer.compile(
            TemplateSource("s", "{% for i in range(10000) %}{% for j in range(20) %}{% endfor %}{% endfor %}")
        )
        cpu = time.process_time()  # the render thread is in this process; 200 renders cost seconds of it
        # Between renders the batch stops at the call limit; on a loaded machine a render can still be running then,
        # and the wait for the batch (the call limit plus a grace) ends the call instead: bounded either way.
        with pytest.raises(RenderLimitExceeded, match=r"call limit|render time limits"):
            await renderer.render(compiled, [Recipient(f"r{i}@example.com", {"i": i}) for i in range(200)])
        assert time.process_time() - cpu < 2
    finally:
        renderer.close()


async def test_identical_data_renders_once_per_batch_and_across_calls(
    renderer: SandboxRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine_renders: list[str] = []
    real_render = renderer._engine.render

    def counting_render(compiled: CompiledTemplate, recipient: Recipient) -> RenderResult:
        engine_renders.append(recipient.email)
        return real_render(compiled, recipient)

    monkeypatch.setattr(renderer._engine, "render", counting_render)
    compiled = await renderer.compile(TemplateSource("Hi {{ plan }}", "<p>{{ plan }}</p>"), "t3")
    batch = [Recipient(f"r{i}@example.com", {"plan": "pro" if i % 2 else "free"}) for i in range(10)]
    results = await renderer.render(compiled, batch, "t3")
    assert engine_renders == ["r0@example.com", "r1@example.com"]  # two distinct data sets, two renders
    assert [r.email for r in results] == [p.email for p in batch]
    assert [r.html for r in results if isinstance(r, RenderedEmail)] == ["<p>free</p>", "<p>pro</p>"] * 5
    await renderer.render(compiled, [Recipient("late@example.com", {"plan": "pro"})], "t3")
    assert len(engine_renders) == 2  # a later call with the same data is served from the cache too
    await renderer.render(compiled, [Recipient("new@example.com", {"plan": "team"})], "t3")
    assert engine_renders[-1] == "new@example.com"
    await renderer.render(compiled, batch[:1])  # no cache key (no template identity): always rendered
    assert engine_renders[-1] == "r0@example.com"


async def test_failures_are_not_cached(renderer: SandboxRenderer) -> None:
    compiled = await renderer.compile(TemplateSource("s", "<p>{{ 10 / n }}</p>"), "t4")
    first, second = await renderer.render(
        compiled, [Recipient("a@example.com", {"n": 0}), Recipient("b@example.com", {"n": 0})], "t4"
    )
    assert isinstance(first, RenderFailure)
    assert isinstance(second, RenderFailure)
    assert second.email == "b@example.com"


async def test_compiled_templates_are_a_bounded_lru() -> None:
    renderer = SandboxRenderer(RenderLimits(), compiled_cache_size=2)
    try:
        one = await renderer.compile(TemplateSource("s", "1"), "one")
        await renderer.compile(TemplateSource("s", "2"), "two")
        assert renderer.cached("one") is one  # a hit makes "one" the most recently used
        await renderer.compile(TemplateSource("s", "3"), "three")
        assert renderer.cached("two") is None  # the least recently used went
        assert renderer.cached("one") is one
        assert renderer.cached("three") is not None
    finally:
        renderer.close()


async def test_the_rendered_email_cache_is_bounded_by_bytes() -> None:
    renderer = SandboxRenderer(RenderLimits(), result_cache_bytes=100)
    try:
        compiled = await renderer.compile(TemplateSource("s", "<p>{{ v }}</p>"), "t")
        small = Recipient("a@example.com", {"v": "x"})
        big = Recipient("b@example.com", {"v": "y" * 200})
        (first,) = await renderer.render(compiled, [small], "t")
        (again,) = await renderer.render(compiled, [small], "t")
        assert isinstance(first, RenderedEmail)
        assert isinstance(again, RenderedEmail)
        assert again.html is first.html
        (big_first,) = await renderer.render(compiled, [big], "t")
        (big_again,) = await renderer.render(compiled, [big], "t")
        assert isinstance(big_first, RenderedEmail)
        assert isinstance(big_again, RenderedEmail)
        assert big_again.html == big_first.html
        assert big_again.html is not big_first.html  # over the byte bound: never cached
    finally:
        renderer.close()


def test_lru_evicts_by_count_and_by_cost() -> None:
    by_count: LruCache[str] = LruCache(max_entries=2)
    by_count.put("a", "1")
    by_count.put("b", "2")
    assert by_count.get("a") == "1"
    by_count.put("c", "3")
    assert (by_count.get("a"), by_count.get("b"), by_count.get("c")) == ("1", None, "3")
    by_cost: LruCache[str] = LruCache(max_entries=100, max_cost=10, cost=len)
    by_cost.put("a", "x" * 4)
    by_cost.put("b", "x" * 4)
    by_cost.put("c", "x" * 4)  # 12 > 10: the oldest goes
    assert (by_cost.get("a"), len(by_cost)) == (None, 2)
    by_cost.put("d", "x" * 11)  # bigger than the whole budget: not kept, nothing evicted for it
    assert (by_cost.get("d"), len(by_cost)) == (None, 2)
    by_cost.put("e", "x", extra_cost=2)  # a large key is charged too: 4 + 4 + 3 > 10, the oldest entry goes
    assert (by_cost.get("b"), by_cost.get("c"), by_cost.get("e"), len(by_cost)) == (None, "x" * 4, "x", 2)
    disabled: LruCache[str] = LruCache(max_entries=0)
    disabled.put("a", "1")
    assert disabled.get("a") is None
