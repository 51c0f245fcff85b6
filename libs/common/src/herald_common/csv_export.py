"""CSV exports a marketer can open in a spreadsheet without running what a recipient typed.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and Google
Sheets as a formula (OWASP "CSV Injection"): a refused upload row `=HYPERLINK("https://evil", "click")` would reach
the marketer's sheet live. Such a cell is written with a leading `'`, which spreadsheets show as text and hide.
Every CSV Herald serves goes through `CsvChunks`, so no export can forget the rule.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A chunk of this size is handed to the response: small enough to stream, large enough not to cost a send per row.
CHUNK_BYTES = 64 * 1024


def spreadsheet_safe(value: object) -> str:
    """The cell text for `value`: empty for None, prefixed with `'` when a spreadsheet would read a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


class CsvChunks:
    """Rows in, CSV bytes out in chunks of about `CHUNK_BYTES`, every cell neutralised (`spreadsheet_safe`)."""

    def __init__(self, header: Iterable[str]) -> None:
        self._out = io.StringIO()
        self._writer = csv.writer(self._out)
        self._writer.writerow(list(header))

    def add(self, row: Iterable[object]) -> bytes | None:
        """Write a row; the buffered bytes when a chunk is full, else None."""
        self._writer.writerow([spreadsheet_safe(cell) for cell in row])
        return self.flush() if self._out.tell() >= CHUNK_BYTES else None

    def flush(self) -> bytes:
        """What is buffered (possibly nothing), as UTF-8."""
        chunk = self._out.getvalue().encode()
        self._out.seek(0)
        self._out.truncate()
        return chunk
