"""How deeply a parsed JSON value nests, measured without recursion.

Personalisation data is names and values a template reads, a few levels at most; a body nested thousands deep only
exists to exhaust a recursive parser, validator or serializer (Python's JSON decoder raises `RecursionError` at
about 1,000 levels, boto's marshaller and `json.dumps` somewhat later). Herald refuses values deeper than
`MAX_JSON_DEPTH` where they come in, so nothing downstream ever sees one.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

MAX_JSON_DEPTH = 32


def nests_deeper_than(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `value` has more than `limit` levels of lists and objects (a scalar has none, `[]` has one)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_depth(value: T, limit: int = MAX_JSON_DEPTH) -> T:
    """`value` unchanged, or `ValueError` (a pydantic validator's 422) when it nests deeper than `limit`."""
    if nests_deeper_than(value, limit):
        raise ValueError(f"is nested more than {limit} levels deep")
    return value
