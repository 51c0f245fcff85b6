"""Every built-in filter, metered.

Filters are called directly by Jinja's generated code (not through the sandbox's `call`), so each one is wrapped:
the deadline is checked, its inputs must fit the allowance before they are stringified or copied, the few filters
that can multiply their input are pre-checked, and the result (or each item of a lazy result) is charged.
"""

from __future__ import annotations

import functools
from collections import abc
from typing import TYPE_CHECKING, Any

from herald_template.rendering.guards import check_percent_format, predict_join, predict_replace
from herald_template.rendering.meter import current_meter, weigh

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_template.rendering.meter import RenderMeter

Args = tuple[Any, ...]


def _arg(args: Args, kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _center(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    width = _arg(args, kwargs, 1, "width", 80)
    if isinstance(width, int):
        meter.fits(width, "a padded string")
    return args


def _indent(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    text, width = str(args[0]), _arg(args, kwargs, 1, "width", 4)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    meter.fits(len(text) + (text.count("\n") + 2) * max(per_line, 0), "an indented string")
    return args


def _format(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    check_percent_format(meter, str(args[0]), kwargs or args[1:])
    return args


def _replace(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    old, new = _arg(args, kwargs, 1, "old", ""), _arg(args, kwargs, 2, "new", "")
    count = _arg(args, kwargs, 3, "count", None)
    meter.fits(predict_replace(str(args[0]), str(old), str(new), -1 if count is None else count), "a replaced string")
    return args


def _join(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    items = list(args[0])
    meter.fits(predict_join(meter, str(_arg(args, kwargs, 1, "d", "")), items), "a joined string")
    return (items, *args[1:])


def _batch(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    count, fill = _arg(args, kwargs, 1, "linecount", 0), _arg(args, kwargs, 2, "fill_with", None)
    if fill is not None and isinstance(count, int):
        meter.fits(count * 4, "a batch")
    return args


def _slice(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    count = _arg(args, kwargs, 1, "slices", 0)
    if isinstance(count, int):
        meter.fits(count * 4, "a slice")
    return args


def _wordwrap(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    text, width = str(args[0]), _arg(args, kwargs, 1, "width", 79)
    wrap = _arg(args, kwargs, 3, "wrapstring", None) or "\n"
    lines = len(text) // max(width, 1) + 1 if isinstance(width, int) else 1
    meter.fits(len(text) + lines * len(str(wrap)), "a wrapped string")
    return args


def _sum(meter: RenderMeter, args: Args, kwargs: dict[str, Any]) -> Args:
    start = _arg(args, kwargs, 2, "start", 0)
    if isinstance(start, (int, float)):
        return args
    # Summing sequences copies the running total at every step: quadratic in the number of items.
    items = list(args[0])
    meter.fits(len(items) * (weigh(items, meter.remaining) + weigh(start, meter.remaining)), "a sum")
    return (items, *args[1:])


_PRE_CHECKS: dict[str, Callable[[RenderMeter, Args, dict[str, Any]], Args]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "replace": _replace,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
    "wordwrap": _wordwrap,
    "sum": _sum,
}


def metered(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap one filter; Jinja's pass-context marker is kept so the filter still receives what it expects."""
    pass_arg = getattr(func, "jinja_pass_arg", None)
    skip = 0 if pass_arg is None else 1
    pre_check = _PRE_CHECKS.get(name)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        meter = current_meter()
        meter.tick()
        for value in (*args[skip:], *kwargs.values()):
            meter.expect(value)
        if pre_check is not None and len(args) > skip:
            args = (*args[:skip], *pre_check(meter, args[skip:], kwargs))
        result = func(*args, **kwargs)
        if isinstance(result, abc.Iterator) and not isinstance(result, str):
            return meter.guard_iterator(result, charge_items=True)
        return meter.charge(result)

    if pass_arg is not None:
        wrapper.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return wrapper


def metered_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    return {name: metered(name, func) for name, func in filters.items()}
