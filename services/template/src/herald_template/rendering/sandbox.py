"""Herald's Jinja2 sandbox: Jinja's immutable sandbox plus metering of time and work.

Jinja's own sandbox stops attribute escapes (`__class__`, `__globals__`, ...) and mutation of data; it does not bound
resources. This environment adds the bounds (see `meter.py`), only where a template can repeat work or grow a value,
so that straight-line output (literal text, variables, attribute lookups) runs as fast as in plain Jinja:
- intercepted operators (`*`, `**`, `%`, `+`) and calls are pre-checked and their results charged;
- every filter is metered (`filters.py`);
- the parsed template is rewritten before compilation so that every `for` loop iterates through a deadline check,
  and the operands of `~` and comparisons must fit the allowance before Python stringifies or compares them;
- each value output by `{{ }}` is charged (and must fit before it is stringified: `finalize`), and output captured
  by `{% set %}` blocks, macros, call and filter blocks is charged when it is joined (`concat`); what reaches the
  email itself is also counted against the output limit by the engine;
- `range()` is capped, `lipsum()` is gone, and the optimizer is off so nothing is evaluated unmetered at compile time.

Why the deadline needs no check outside loops, calls and filters: without them a template runs each of its
statements once, and its source is bounded (`max_source_bytes`); every single step that can take long on a large
value is a filter or a call (checked), or is pre-checked against the allowance before it runs.
"""

from __future__ import annotations

from collections import abc
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from herald_template.rendering.errors import RenderLimitExceeded
from herald_template.rendering.filters import metered_filters
from herald_template.rendering.guards import check_binop, check_brace_format, prepare_str_method
from herald_template.rendering.meter import current_meter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from jinja2.nodes import EvalContext
    from jinja2.runtime import Context

    from herald_template.rendering.meter import RenderLimits

LOOP_FILTER = "_herald_loop"
EXPECT_FILTER = "_herald_expect"
CHARGE_FILTER = "_herald_charge"


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:  # noqa: ARG001 - pass_eval_context keeps it out of const folding
    # Right after this, the generated code escapes or stringifies the value: a fresh string, which a loop inside a
    # `{% set %}` block or a macro keeps in its buffer until the block is joined. Charged here, such a loop stops at
    # the allowance instead of filling memory for a whole second. Markup (escaped already, and output by a macro or
    # block that was charged when joined) is passed on as it is: escaping it copies nothing.
    if type(value) is str:
        current_meter().spend(len(value))
    elif not isinstance(value, Markup):
        meter = current_meter()
        meter.expect(value)  # it must fit before one C call stringifies it (a list of a million long strings, say)
        meter.charge(value)
    return value


def _concat(pieces: Iterable[str]) -> str:
    """Join captured output (`{% set %}` blocks, macros, call and filter blocks), charged before it is built."""
    buffer = pieces if isinstance(pieces, list) else list(pieces)
    meter = current_meter()
    meter.tick()
    size = sum(map(len, buffer))
    meter.fits(size, "a captured block of output")
    meter.remaining -= size
    return "".join(buffer)


def _loop(value: Any) -> Iterator[Any]:
    return current_meter().guard_iterator(iter(value), charge_items=False)


def _expect(value: Any) -> Any:
    meter = current_meter()
    meter.tick()
    meter.expect(value)
    return value


def _charge(value: Any) -> Any:
    return current_meter().charge(value)


def _make_range(max_items: int) -> Callable[..., range]:
    def herald_range(*args: int) -> range:
        try:
            rng = range(*args)
            length = len(rng)
        except OverflowError as exc:
            raise RenderLimitExceeded(f"range() is limited to {max_items} items.") from exc
        if length > max_items:
            raise RenderLimitExceeded(f"range() is limited to {max_items} items; this one has {length}.")
        return rng

    return herald_range


def _wrap(expr: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(expr, name, [], [], None, None, lineno=expr.lineno)


class _Metering(NodeTransformer):
    """Rewrites a parsed template so the meter sees loops, `~` and comparisons."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _wrap(node.iter, LOOP_FILTER)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_wrap(child, EXPECT_FILTER) for child in node.nodes]
        return _wrap(node, CHARGE_FILTER)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = _wrap(node.expr, EXPECT_FILTER)
        for operand in node.ops:
            operand.expr = _wrap(operand.expr, EXPECT_FILTER)
        return node

    def visit_Test(self, node: nodes.Test) -> nodes.Node:
        self.generic_visit(node)
        node.node = _wrap(node.node, EXPECT_FILTER)
        return node


class HeraldSandbox(ImmutableSandboxedEnvironment):
    """A metered, immutable Jinja2 sandbox with `StrictUndefined`. One instance per autoescape mode."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    # The generated code joins captured output with `environment.concat`.
    concat = staticmethod(_concat)

    def __init__(self, *, autoescape: bool, limits: RenderLimits) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            finalize=_finalize,
            optimized=False,
            cache_size=0,
            auto_reload=False,
        )
        self.limits = limits
        self.globals.pop("lipsum", None)  # generates text of any requested length
        self.globals["range"] = _make_range(limits.max_range)
        self.filters = metered_filters(self.filters)
        self.filters.update({LOOP_FILTER: _loop, EXPECT_FILTER: _expect, CHARGE_FILTER: _charge})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Metering().visit(super()._parse(source, name, filename))
        assert isinstance(tree, nodes.Template)
        tree.set_environment(self)
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        meter = current_meter()
        meter.tick()
        if operator == "%":
            meter.expect(right)
        check_binop(meter, operator, left, right)
        return meter.charge(super().call_binop(context, operator, left, right))

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        # A slice is a fresh copy: charge it, or a template could keep many of them alive.
        return current_meter().charge(value) if isinstance(argument, slice) else value

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter = current_meter()
        meter.tick()
        for value in (getattr(__obj, "__self__", None), *args, *kwargs.values()):
            meter.expect(value)
        args = prepare_str_method(meter, __obj, args)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, abc.Iterator) and not isinstance(result, str):
            return meter.guard_iterator(result, charge_items=True)
        return meter.charge(result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        is_format_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            meter = current_meter()
            for arg in (*args, *kwargs.values()):
                meter.expect(arg)
            if is_format_map:
                mapping = args[0] if args and isinstance(args[0], abc.Mapping) else {}
                check_brace_format(meter, fmt, (), mapping)
            else:
                check_brace_format(meter, fmt, args, kwargs)
            result: str = meter.charge(wrapped(*args, **kwargs))
            return result

        return checked
