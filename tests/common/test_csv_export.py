"""The kit's CSV writer neutralises every cell a spreadsheet would read as a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from herald_common.csv_export import CHUNK_BYTES, CsvChunks, spreadsheet_safe


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://e")'])
def test_a_cell_a_spreadsheet_would_evaluate_is_quoted(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("text", ["ada@example.com", "sent", "1", " =x", "a=b", ""])
def test_other_cells_are_left_alone(text: str) -> None:
    assert spreadsheet_safe(text) == text


def test_none_is_an_empty_cell_and_numbers_are_text() -> None:
    assert (spreadsheet_safe(None), spreadsheet_safe(3)) == ("", "3")


def test_chunks_carry_every_row_once_and_in_order() -> None:
    chunks = CsvChunks(["a", "b"])
    rows = [[f"r{i}@example.com", "=1+1" if i % 2 else i] for i in range(5000)]
    out = b"".join(c for row in rows if (c := chunks.add(row))) + chunks.flush()
    parsed = list(csv.reader(io.StringIO(out.decode())))
    assert parsed[0] == ["a", "b"]
    assert parsed[1:] == [[email, "'=1+1" if i % 2 else str(i)] for i, (email, _) in enumerate(rows)]
    assert len(out) > CHUNK_BYTES  # more than one chunk was produced on the way
