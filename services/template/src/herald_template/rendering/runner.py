"""The asynchronous face of the sandbox: compile and render in worker threads, with the two caches.

Rendering is CPU work; on the event loop one hostile template would stall every other request. A small thread pool
runs it instead (the GIL is released to the loop every few milliseconds, so `/healthz` keeps answering), and the
meter stops the template inside the thread. Each call is one job: all its recipients in a row, one hand-off. The
await has its own timeout as a last resort: should a thread ever be stuck inside one C call, the caller still gets
its 422 on time.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from herald_template.rendering.engine import CompiledTemplate, RenderedEmail, RenderEngine
from herald_template.rendering.errors import RenderLimitExceeded
from herald_template.rendering.lru import LruCache

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Sequence

    from herald_template.rendering.engine import Recipient, RenderResult, TemplateSource
    from herald_template.rendering.meter import RenderLimits

P = ParamSpec("P")
T = TypeVar("T")
_GRACE_SECONDS = 1.0


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"  # no data value reprs like this (a string would be quoted)


_MISSING = _Missing()


def data_fingerprint(names: frozenset[str], variables: dict[str, Any]) -> str:
    """Exactly the values of the variables a template reads, as text: equal fingerprints render equal output.

    `repr` of request data (JSON values) is exact, tells `1`, `1.0`, `True` and `"1"` apart, and keeps the order of
    a mapping's keys (which a `{% for %}` over it renders). It is the cache key itself, not a hash of it: no digest to
    compute per recipient, no chance of two recipients' data colliding, and the result cache charges its length.
    """
    return repr([variables.get(name, _MISSING) for name in sorted(names)])


def _rendered_size(result: RenderedEmail) -> int:
    return len(result.subject) + len(result.html) + len(result.text)


class SandboxRenderer:
    """Compiles (cached per template version) and renders (cached per version and data) off the event loop."""

    def __init__(
        self,
        limits: RenderLimits,
        *,
        workers: int = 2,
        compiled_cache_size: int = 256,
        result_cache_bytes: int = 32 * 1024 * 1024,
        call_time_limit: float = 15.0,
    ) -> None:
        self.limits = limits
        self._engine = RenderEngine(limits)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="herald-render")
        self._compiled: LruCache[CompiledTemplate] = LruCache(compiled_cache_size)
        self._results: LruCache[RenderedEmail] = LruCache(
            max_entries=100_000, max_cost=result_cache_bytes, cost=_rendered_size
        )
        self._call_time_limit = call_time_limit

    def cached(self, cache_key: Hashable) -> CompiledTemplate | None:
        """A template compiled earlier under `cache_key`, if it is still in the LRU."""
        return self._compiled.get(cache_key)

    async def compile(self, source: TemplateSource, cache_key: Hashable | None = None) -> CompiledTemplate:
        """Validate and compile `source` (raises the 422 errors of `RenderEngine.compile`)."""
        if cache_key is not None and (hit := self._compiled.get(cache_key)) is not None:
            return hit
        compiled = await self._offload(self._engine.compile, source)
        if cache_key is not None:
            self._compiled.put(cache_key, compiled)
        return compiled

    async def render(
        self, compiled: CompiledTemplate, recipients: Sequence[Recipient], cache_key: Hashable | None = None
    ) -> list[RenderResult]:
        """Render every recipient; one result per recipient, in order."""
        return await self._offload(self._render_batch, compiled, recipients, cache_key)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _render_batch(
        self, compiled: CompiledTemplate, recipients: Sequence[Recipient], cache_key: Hashable | None
    ) -> list[RenderResult]:
        deadline = time.monotonic() + self._call_time_limit
        results: list[RenderResult] = []
        for recipient in recipients:
            if time.monotonic() > deadline:
                raise RenderLimitExceeded(f"Rendering took longer than the call limit ({self._call_time_limit:g} s).")
            key = None
            if cache_key is not None:
                key = (cache_key, data_fingerprint(compiled.variables, recipient.variables()))
                cached = self._results.get(key)
                if cached is not None:
                    results.append(replace(cached, email=recipient.email))
                    continue
            result = self._engine.render(compiled, recipient)
            if key is not None and isinstance(result, RenderedEmail):
                self._results.put(key, result, extra_cost=len(key[1]))
            results.append(result)
        return results

    async def _offload(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, lambda: func(*args, **kwargs))
        try:
            return await asyncio.wait_for(future, timeout=self._call_time_limit + _GRACE_SECONDS)
        except TimeoutError as exc:
            raise RenderLimitExceeded("The template did not finish within the render time limits.") from exc
