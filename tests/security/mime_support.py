"""Reading the raw MIME the emulator's SES accepted: the message as bytes on the wire, its header names in order and a
header's value decoded the way RFC 2047 says (not the way one parser happens to)."""

from __future__ import annotations

from email.header import decode_header, make_header

import httpx


async def raw_message(emulator_url: str, message_id: str) -> bytes:
    """The whole message SES accepted under `message_id` (moto keeps raw sends as they came)."""
    async with httpx.AsyncClient(timeout=30) as http:
        data = (await http.get(f"{emulator_url}/moto-api/data.json")).json()
    (raw,) = [m["raw_data"] for m in data["ses"]["RawMessage"] if m["id"] == message_id]
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


def header_block(raw: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) for every header line before the first empty line, in order, read by hand: whatever a
    receiving MTA would take for a header is in this list."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    fields: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        else:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    return fields


def header_names(raw: bytes) -> list[str]:
    return [name for name, _ in header_block(raw)]


def decoded(raw: bytes, name: str) -> str:
    """The header's value with its encoded words decoded (RFC 2047 §6.2: whitespace between encoded words dropped)."""
    (value,) = [v for n, v in header_block(raw) if n.lower() == name.lower()]
    return str(make_header(decode_header(value)))
