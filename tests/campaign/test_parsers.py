"""The streaming upload parsers: items come out whatever the chunking of the body."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from herald_campaign.campaigns.errors import MalformedRecipients
from herald_campaign.campaigns.parsers import MAX_ITEM_CHARS, iter_csv_recipients, iter_json_recipients

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _collect(parser: Callable[[Any], AsyncIterator[Any]], data: bytes, size: int) -> list[Any]:
    return [item async for item in parser(_chunks(data, size))]


BODY = {
    "note": {"nested": [1, 2, {"x": "]"}]},
    "recipients": [
        {"email": "a@example.com", "data": {"n": 12345, "s": 'é, "quoted" ]'}},
        "b@example.com",
        {"email": "c@example.com", "data": {"pi": 3.14159, "ok": True, "none": None}},
    ],
    "after": 12,
}


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
async def test_json_items_survive_any_chunking(size: int) -> None:
    data = json.dumps(BODY, ensure_ascii=False, indent=1).encode()
    assert await _collect(iter_json_recipients, data, size) == BODY["recipients"]


async def test_json_empty_list_and_bom() -> None:
    assert await _collect(iter_json_recipients, b'\xef\xbb\xbf{"recipients": []}', 4) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"recipients": [1, 2',
        b'{"recipients": [1 2]}',
        b'{"recipients": {}}',
        b'{"other": 1}',
        b'{"recipients": []} trailing',
        b'{"recipients": ["a@example.com",]}',
        b'{"recipients": ["\xff"]}',
        b'{"recipients": ["' + b"x" * (MAX_ITEM_CHARS + 10),
    ],
)
async def test_json_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedRecipients):
        await _collect(iter_json_recipients, body, 5)


CSV = (
    "\ufeffName,EMAIL,city\r\n"
    "Ada,ada@example.com,London\r\n"
    '"Lovelace, Ada","bob@example.com","multi\nline ""quoted"""\r\n'
    "\r\n"
    "Carol,carol@example.com\n"
    "Dan,dan@example.com,Paris"
).encode()


@pytest.mark.parametrize("size", [1, 5, 1000])
async def test_csv_rows_become_recipients(size: int) -> None:
    rows = await _collect(iter_csv_recipients, CSV, size)
    assert rows == [
        {"email": "ada@example.com", "data": {"Name": "Ada", "city": "London"}},
        {"email": "bob@example.com", "data": {"Name": "Lovelace, Ada", "city": 'multi\nline "quoted"'}},
        {"email": "carol@example.com", "data": {"Name": "Carol"}},
        {"email": "dan@example.com", "data": {"Name": "Dan", "city": "Paris"}},
    ]


@pytest.mark.parametrize("body", [b"name,city\nAda,London\n", b"", b'email\n"unterminated\n', b"email\n\xff\n"])
async def test_csv_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedRecipients):
        await _collect(iter_csv_recipients, body, 3)
