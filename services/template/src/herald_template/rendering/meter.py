"""The bounds one recipient's render must stay inside, metered while the template runs.

Two budgets, both per recipient:
- time (the render thread's CPU time): the hooks through which a template can repeat work check the deadline
  (every loop iteration, every call, macros included, every filter, the intercepted operators, every join of
  captured output), so a loop that emits nothing is stopped as surely as one that emits a lot; straight-line code
  runs once per statement of a bounded source, and is not checked;
- work: every value the template builds (operator and call results, filter results, output captured by
  `{% set %}` blocks, macros, call and filter blocks when it is joined) is charged by its size; the email's own
  output is counted against the output limit. Allocation is cumulative, so live memory can never exceed the
  allowance, and operations that multiply (`*`, `**`, `~`, widths, `join`, `replace`) are checked *before* they
  run, so nothing huge is ever allocated.

Why a thread-local: recipients are rendered one after another inside a worker thread, and every hook runs in that
thread, so the active meter is found without threading it through Jinja's generated code.
"""

from __future__ import annotations

import threading
import time
from collections import abc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2.utils import Namespace

from herald_template.rendering.errors import RenderLimitExceeded

if TYPE_CHECKING:
    from collections.abc import Iterator

# Per-item overhead charged for containers: a list of a million empty strings is not free.
_ITEM_COST = 4


@dataclass(frozen=True)
class RenderLimits:
    """Safety bounds. Sizes inside the sandbox are in characters; the output limit is in UTF-8 bytes."""

    max_source_bytes: int = 512 * 1024
    max_output_bytes: int = 1024 * 1024
    time_limit_seconds: float = 1.0
    work_factor: int = 16  # allowance = work_factor x max_output_bytes characters of produced values
    max_int_bits: int = 4096  # ~1,233 decimal digits: plenty for prices and counts, nowhere near 10**100000
    max_range: int = 10_000  # a marketing email never needs a longer loop

    @property
    def work_allowance(self) -> int:
        return self.work_factor * self.max_output_bytes


def _children(item: Any) -> abc.Iterable[Any] | None:
    """The items a container holds (None for a scalar)."""
    kind = type(item)
    if kind is str or kind is int or kind is float:  # request data is mostly these: skip the ABC checks below
        return None
    if kind is dict:
        return item.items()  # type: ignore[no-any-return]
    if kind is list or kind is tuple:
        return item  # type: ignore[no-any-return]
    if isinstance(item, abc.Mapping):
        return item.items()
    if isinstance(item, (list, tuple, set, frozenset, abc.KeysView, abc.ValuesView, abc.ItemsView)):
        return item
    if isinstance(item, Namespace):
        attrs: dict[str, Any] = object.__getattribute__(item, "_Namespace__attrs")
        return attrs.items()
    return None


def _scalar_weight(item: Any) -> int:
    if isinstance(item, (str, bytes, bytearray)):
        return len(item)
    if isinstance(item, int) and not isinstance(item, bool):
        return item.bit_length() // 3 + 1
    return 1


def weigh(value: Any, cap: int) -> int:
    """The size of `value` in characters, counting nested items; stops counting once it passes `cap`.

    Shared references count each time they are reached (that is what `str()` of the value costs), but each distinct
    container is walked once, so weighing `[a, a, a]` costs no more than weighing `a`.
    """
    if isinstance(value, str):  # the common case, O(1)
        return len(value)
    memo: dict[int, int] = {}

    def walk(item: Any) -> int:
        children = _children(item)
        if children is None:
            return _scalar_weight(item)
        key = id(item)
        if key in memo:
            return memo[key]
        memo[key] = 0  # a cycle (a namespace holding itself) adds nothing the second time round
        total = _ITEM_COST * len(children) if isinstance(children, abc.Sized) else 0
        for child in children:
            if total > cap:
                break
            total += walk(child)
        memo[key] = total
        return total

    try:
        return walk(value)
    except RecursionError as exc:
        raise RenderLimitExceeded("A value in the template is nested too deeply.") from exc


class RenderMeter:
    """The deadline and the work allowance of one recipient's render."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.time_limit_seconds
        self._cpu_start = time.thread_time()
        self.remaining = limits.work_allowance

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            self._past_deadline()

    def _past_deadline(self) -> None:
        # The time limit is the render thread's CPU time, so a machine busy with other work (or renders queued for
        # the GIL) never fails a legitimate render. The wall clock is only the cheap first test on every tick: once
        # it passes, the thread's CPU time decides, and the wall deadline moves to what is left of the limit.
        left = self.limits.time_limit_seconds - (time.thread_time() - self._cpu_start)
        if left <= 0:
            raise RenderLimitExceeded(
                f"The template took longer than the render time limit ({self.limits.time_limit_seconds:g} s)."
            )
        self.deadline = time.monotonic() + left

    def fits(self, predicted: int, what: str = "a value") -> None:
        """Refuse an operation whose result would be bigger than what is left of the allowance."""
        if predicted > self.remaining:
            raise RenderLimitExceeded(f"The template tried to build {what} too large to render safely.")

    def expect(self, value: Any) -> None:
        """Refuse to stringify or copy `value` if that alone would exceed the allowance (nothing is charged)."""
        if isinstance(value, str):  # the common case, O(1)
            self.fits(len(value))
        elif type(value) is int:  # the next most common (counts, prices), also O(1)
            self.fits(value.bit_length() // 3 + 1)
        elif type(value) is not float and value is not None:
            self.fits(weigh(value, self.remaining), "a value")

    def charge(self, value: Any) -> Any:
        """Charge a produced value against the allowance; return it unchanged."""
        self.tick()
        if isinstance(value, str):
            cost = len(value)
        else:
            if isinstance(value, int) and value.bit_length() > self.limits.max_int_bits:
                raise RenderLimitExceeded(f"A number in the template grew past {self.limits.max_int_bits} bits.")
            cost = weigh(value, self.remaining)
        self.spend(cost)
        return value

    def spend(self, cost: int) -> None:
        """Take `cost` characters off the allowance (no deadline check: for the hot paths)."""
        self.remaining -= cost
        if self.remaining < 0:
            raise RenderLimitExceeded(
                "The template produced more data than the render allows (directly or inside blocks and macros)."
            )

    def guard_iterator(self, iterator: abc.Iterator[Any], charge_items: bool) -> Iterator[Any]:
        """Iterate with a deadline check per item (and a charge per item for freshly built ones)."""
        for item in iterator:
            self.tick()
            yield self.charge(item) if charge_items else item


_local = threading.local()


@contextmanager
def metering(limits: RenderLimits) -> Iterator[RenderMeter]:
    """Make a fresh meter the active one for renders inside this block (in this thread)."""
    previous = getattr(_local, "meter", None)
    meter = RenderMeter(limits)
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = previous


def current_meter() -> RenderMeter:
    """The active meter. Rendering outside `metering()` is a programming error, not an unmetered render."""
    meter: RenderMeter | None = getattr(_local, "meter", None)
    if meter is None:
        raise RuntimeError("a template was rendered outside herald_template.rendering.meter.metering()")
    return meter
