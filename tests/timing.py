"""What timing-sensitive tests measure and wait on: a process's CPU time, and conditions.

On a busy shared machine the wall clock measures the machine, not Herald: a bound on elapsed time fails when other
work takes the cores. A test bounds CPU time instead (what the code under test spent), or waits for the condition it
means ("the batches are in flight", "the queues are idle") with a generous timeout that only ends a hung run.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (/proc/<pid>/stat, fields 14 and 15; 10 ms resolution)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def wait_until(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float, what: str, every: float = 0.2) -> T:
    """Call `read` until `done(value)`; the last value. Fails naming `what` once `timeout` seconds have gone by (the
    timeout only ends a hung run: it is no claim about speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout:g} s (last: {value!r})"
        time.sleep(every)
