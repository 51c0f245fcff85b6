"""A small thread-safe LRU map, bounded by entry count and by total cost (for example bytes of rendered output)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

V = TypeVar("V")


class LruCache(Generic[V]):
    def __init__(self, max_entries: int, max_cost: int | None = None, cost: Callable[[V], int] = lambda _: 1) -> None:
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._max_entries = max_entries
        self._max_cost = max_cost
        self._cost = cost
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: V, extra_cost: int = 0) -> None:
        """Store `value`; `extra_cost` adds to its cost (for example the size of a large key)."""
        cost = self._cost(value) + extra_cost
        if self._max_entries <= 0 or (self._max_cost is not None and cost > self._max_cost):
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= old[1]
            self._entries[key] = (value, cost)
            self._total += cost
            while len(self._entries) > self._max_entries or (
                self._max_cost is not None and self._total > self._max_cost
            ):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._total -= evicted

    def __len__(self) -> int:
        return len(self._entries)
