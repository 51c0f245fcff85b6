"""Capture what a service logs in production: `configure_logging(json=True)`'s own processors, written to a buffer.

Only the sink (a StringIO instead of stderr) and logger caching (off, so no logger keeps the buffer after the test)
differ from a deployed process; structlog's defaults come back when the block ends.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

from herald_common.logging import configure_logging

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class CapturedLogs:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def lines(self) -> list[str]:
        return [line for line in self.buffer.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        """Each line parsed as one JSON object (fails the test on a line that is not)."""
        parsed = [json.loads(line) for line in self.lines]
        assert all(isinstance(record, dict) for record in parsed)
        return parsed

    def events(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record.get("event") == name]

    def assert_no_secrets(self, secrets: Iterable[str], recipients: Iterable[str]) -> None:
        """None of `secrets` anywhere, and at most one of `recipients` (addresses) on any one line."""
        known = {address.lower() for address in recipients}
        text = self.buffer.getvalue()
        for secret in secrets:
            assert secret, "an empty secret proves nothing"
            assert secret not in text, f"a secret is in the logs: {secret[:12]}…"
        for line in self.lines:
            found = {address.lower() for address in EMAIL.findall(line)} & known
            assert len(found) <= 1, f"several recipients on one log line: {line[:300]}"


@contextmanager
def json_logs(level: str = "DEBUG", *, prod: bool = True) -> Iterator[CapturedLogs]:
    """Logs as a deployed process writes them (`prod=False`: the dev console form)."""
    captured = CapturedLogs()
    configure_logging(json=prod, level=level)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=captured.buffer), cache_logger_on_first_use=False
    )
    try:
        yield captured
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
