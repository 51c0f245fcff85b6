"""Incremental parsers for recipient uploads: items are yielded as the request body arrives, so a list of a
million addresses is never held in memory. Each parser bounds what it buffers (one item or one CSV record)."""

from __future__ import annotations

import codecs
import csv
import json
import re
from typing import TYPE_CHECKING, Any

from herald_campaign.campaigns.errors import MalformedRecipients
from herald_common.json_depth import MAX_JSON_DEPTH, nests_deeper_than

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator

# One recipient item (JSON) or one record (CSV) may not exceed this; it is far above any real recipient.
MAX_ITEM_CHARS = 64 * 1024

# An item is `{"email", "data": {...}}`: two levels above the deepest personalisation data the API accepts.
MAX_ITEM_DEPTH = MAX_JSON_DEPTH + 2
_TOO_DEEP = f"recipients: a value is nested more than {MAX_ITEM_DEPTH} levels deep."
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _JsonReader:
    """A text buffer over an async byte stream, compacted as values are consumed."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks.__aiter__()
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.pos = 0
        self.eof = False

    async def more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = await anext(self._chunks)
            text = self._decoder.decode(chunk)
        except StopAsyncIteration:
            text, self.eof = self._decoder.decode(b"", final=True), True
        except UnicodeDecodeError as exc:
            raise MalformedRecipients("recipients: the body is not UTF-8.") from exc
        self.buf, self.pos = self.buf[self.pos :] + text, 0
        return bool(text) or not self.eof

    async def peek(self) -> str:
        """The next non-blank character without consuming it ("" at the end)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not await self.more() and self.pos >= len(self.buf):
                return ""

    async def expect(self, char: str) -> None:
        if await self.peek() != char:
            raise MalformedRecipients(f"recipients: expected '{char}' in the JSON body.")
        self.pos += 1

    async def value(self) -> Any:
        await self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                obj, end = None, -1
            except RecursionError as exc:  # the decoder's own limit, about 1,000 levels
                raise MalformedRecipients(_TOO_DEEP) from exc
            if end >= 0 and nests_deeper_than(obj, MAX_ITEM_DEPTH):
                raise MalformedRecipients(_TOO_DEEP)
            # A number that ends the buffer may continue in the next chunk.
            if end >= 0 and (end < len(self.buf) or self.eof or not isinstance(obj, int | float)):
                self.pos = end
                return obj
            if len(self.buf) - self.pos > MAX_ITEM_CHARS:
                raise MalformedRecipients(f"recipients: an item is malformed or over {MAX_ITEM_CHARS} characters.")
            # At the end of the stream a truncated value stays an error; a number is now complete (next pass).
            if not await self.more() and end < 0:
                raise MalformedRecipients("recipients: the JSON body is malformed or truncated.")


async def iter_json_recipients(chunks: AsyncIterable[bytes]) -> AsyncIterator[Any]:
    """The items of the `recipients` array of a JSON object body, one by one; other keys are skipped."""
    reader = _JsonReader(chunks)
    await reader.expect("{")
    found, first = False, True
    while await reader.peek() != "}":
        if not first:
            await reader.expect(",")
        first = False
        if await reader.peek() != '"':
            raise MalformedRecipients("recipients: expected a key in the JSON body.")
        key = await reader.value()
        await reader.expect(":")
        if key != "recipients":
            await reader.value()
            continue
        found = True
        await reader.expect("[")
        if await reader.peek() == "]":
            reader.pos += 1
            continue
        while True:
            yield await reader.value()
            if await reader.peek() == "]":
                reader.pos += 1
                break
            await reader.expect(",")
    await reader.expect("}")
    if await reader.peek() != "":
        raise MalformedRecipients("recipients: unexpected data after the JSON object.")
    if not found:
        raise MalformedRecipients("recipients: the field is required.")


def _csv_row(record: str) -> list[str]:
    try:
        return next(csv.reader([record]))
    except (csv.Error, StopIteration) as exc:
        raise MalformedRecipients("recipients: a CSV record is malformed.") from exc


async def _csv_records(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """Complete CSV records: lines joined while a quoted field spans them (an odd number of quotes so far)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = record = ""
    quotes = 0
    finished = False
    iterator = chunks.__aiter__()
    while not finished:
        try:
            text = decoder.decode(await anext(iterator))
        except StopAsyncIteration:
            text, finished = decoder.decode(b"", final=True), True
        except UnicodeDecodeError as exc:
            raise MalformedRecipients("recipients: the CSV body is not UTF-8.") from exc
        pending += text
        lines = pending.split("\n")
        pending = "" if finished else lines.pop()
        for line in lines:
            record += line + "\n"
            quotes += line.count('"')
            if quotes % 2 == 0:
                yield record
                record, quotes = "", 0
            elif len(record) > MAX_ITEM_CHARS:
                raise MalformedRecipients("recipients: a CSV record is malformed or too long.")
        if len(pending) > MAX_ITEM_CHARS:
            raise MalformedRecipients("recipients: a CSV line is too long.")
    if record.strip():
        raise MalformedRecipients("recipients: the CSV body ends inside a quoted field.")


async def iter_csv_recipients(chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """`{email, data}` per CSV row: the header names an `email` column; every other column goes into `data`."""
    header: list[str] | None = None
    email_index = 0
    async for record in _csv_records(chunks):
        if not record.strip():
            continue
        row = _csv_row(record)
        if header is None:
            header = [name.strip() for name in row]
            lowered = [name.lower() for name in header]
            if "email" not in lowered:
                raise MalformedRecipients("recipients: the CSV header row has no 'email' column.")
            email_index = lowered.index("email")
            continue
        email = row[email_index] if email_index < len(row) else ""
        data = {name: row[i] for i, name in enumerate(header) if i != email_index and i < len(row) and name}
        yield {"email": email, "data": data}
    if header is None:
        raise MalformedRecipients("recipients: the CSV body has no header row.")
