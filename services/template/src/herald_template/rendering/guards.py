"""Pre-checks for the operations that can turn a small input into a huge output in one step.

Everything else is caught after the fact by the meter's charge; these run *before* the operation, because a single
`'a' * 10**9` or `'%.999999999f' % 1` would allocate gigabytes inside one C call, out of any hook's reach.
"""

from __future__ import annotations

import re
from string import Formatter
from typing import TYPE_CHECKING, Any

from herald_template.rendering.errors import RenderLimitExceeded
from herald_template.rendering.meter import weigh

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from herald_template.rendering.meter import RenderMeter

# printf-style conversion: optional mapping key, flags, width (or *), precision (or *), type.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[diouxXeEfFgGcrsa%]")
_DIGITS = re.compile(r"\d+")
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def _int_args(values: Any) -> list[int]:
    items = values if isinstance(values, (tuple, list)) else (values,)
    if isinstance(values, dict):
        items = tuple(values.values())
    return [v for v in items if isinstance(v, int) and not isinstance(v, bool)]


def check_percent_format(meter: RenderMeter, fmt: str, args: Any) -> None:
    """`fmt % args`: refuse widths and precisions bigger than the allowance, literal or taken from `*`."""
    star = False
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                star = True
            elif number:
                meter.fits(int(number), "a formatted field")
    if star:
        for number in _int_args(args):
            meter.fits(abs(number), "a formatted field")


def check_brace_format(meter: RenderMeter, fmt: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """`fmt.format(...)`: refuse widths and precisions bigger than the allowance, literal or nested (`{:{w}}`)."""
    try:
        parsed = list(Formatter().parse(fmt))
    except ValueError:
        return  # str.format will raise the same error itself
    for _, field, spec, _ in parsed:
        if field is None or not spec:
            continue
        if "{" in spec:
            for number in _int_args(tuple(args)) + _int_args(dict(kwargs)):
                meter.fits(abs(number), "a formatted field")
        for digits in _DIGITS.findall(spec):
            meter.fits(int(digits), "a formatted field")


def check_binop(meter: RenderMeter, operator: str, left: Any, right: Any) -> None:
    """Refuse `*` and `**` whose result would be too big, and printf formats with huge widths."""
    if operator == "*":
        _check_repeat(meter, left, right)
        _check_repeat(meter, right, left)
    elif operator == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if left.bit_length() * right > meter.limits.max_int_bits:
            raise RenderLimitExceeded(f"A number in the template would grow past {meter.limits.max_int_bits} bits.")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(meter, left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(meter: RenderMeter, seq: Any, times: Any) -> None:
    if not _is_int(times) or times <= 0:
        return
    if _is_int(seq):
        if seq.bit_length() + times.bit_length() > meter.limits.max_int_bits:
            raise RenderLimitExceeded(f"A number in the template would grow past {meter.limits.max_int_bits} bits.")
    elif isinstance(seq, str):
        meter.fits(len(seq) * times, "a repeated string")
    elif isinstance(seq, (list, tuple)):
        meter.fits((weigh(seq, meter.remaining) + 1) * times, "a repeated list")


def prepare_str_method(meter: RenderMeter, method: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pre-check a call of a str method that can multiply its input; return the (possibly materialised) args."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(owner, str) or not args:
        return args
    if name in _WIDTH_METHODS and _is_int(args[0]):
        meter.fits(args[0], "a padded string")
    elif name == "expandtabs" and _is_int(args[0]):
        meter.fits(len(owner) + owner.count("\t") * max(args[0], 0), "an expanded string")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        meter.fits(predict_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1), "a replaced string")
    elif name == "join":
        items = tuple(args[0]) if not isinstance(args[0], str) else args[0]
        meter.fits(predict_join(meter, owner, items), "a joined string")
        return (items, *args[1:])
    return args


def predict_replace(text: str, old: str, new: str, count: Any = -1) -> int:
    occurrences = text.count(old) if old else len(text) + 1
    if _is_int(count) and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * max(len(new) - len(old), 0)


def predict_join(meter: RenderMeter, separator: str, items: Sequence[Any]) -> int:
    return len(separator) * max(len(items) - 1, 0) + weigh(list(items), meter.remaining)
