"""The one place Herald writes email header lines and MIME bodies: the processor's campaign emails and the campaign
service's test sends are both built from these functions.

The rule: a header is *encoded* by Herald and never *decoded* from input. Display names and subjects are written as
plain atoms, a quoted string, or RFC 2047 encoded words of the literal text, chosen here; none of them goes through
the `email` package's header parser, which decodes encoded words it finds in its input (`=?utf-8?b?…?=` becoming
`\\r\\nReply-To: …`), so text that looks like an encoded word reaches the reader as the characters that were typed.
Addresses are checked by `herald_common.headers` (exactly one address, no encoded word in an addr-spec) and written
from that parse. Every line ends in CRLF; lines are folded at 78 characters where a space allows.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from herald_common.headers import check_header_value, parse_address

if TYPE_CHECKING:
    from collections.abc import Sequence

CRLF = "\r\n"
MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters (998 is the hard limit)
_HARD_LINE = 998
# RFC 2047 §2: an encoded word is at most 75 characters; `=?utf-8?b?` + `?=` leave 63 for base64, i.e. 45 bytes.
_ENCODED_WORD_BYTES = 45
# RFC 5322 atext: a display name of these words, single spaces between, needs neither quoting nor encoding.
_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _plain_ascii(value: str) -> bool:
    # "=?" anywhere could be read back as the start of an encoded word: such text is always encoded itself.
    return value.isascii() and value.isprintable() and "=?" not in value


def encoded_words(value: str, first_line_room: int = MAX_LINE) -> list[str]:
    """RFC 2047 `B` encoded words of at most 75 characters, never splitting a character; the first one short enough
    to share a line of at most 78 characters with what precedes it (`first_line_room` characters are left)."""
    words: list[bytes] = []
    budget = max(3, min(_ENCODED_WORD_BYTES, (first_line_room - len("=?utf-8?b??=")) // 4 * 3))
    chunk = b""
    for char in value:
        encoded = char.encode("utf-8")
        if chunk and len(chunk) + len(encoded) > budget:
            words.append(chunk)
            chunk, budget = b"", _ENCODED_WORD_BYTES
        chunk += encoded
    words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words]


def fold_words(name: str, words: Sequence[str]) -> str:
    """`Name: words…` with its CRLF, folded before a word where a line would pass 78 characters (never inside one)."""
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return CRLF.join(lines) + CRLF


def unstructured_header(name: str, value: str) -> str:
    """`Name: value` with its CRLF (RFC 5322 unstructured, e.g. Subject): printable ASCII folded at spaces, anything
    else — including text that looks like an encoded word — as RFC 2047 encoded words of the literal text."""
    check_header_value(name, value)
    if _plain_ascii(value):
        words = value.split(" ")
        if all(words) and all(len(w) <= _HARD_LINE - 2 - len(name) for w in words):
            return fold_words(name, words)
    return fold_words(name, encoded_words(value, MAX_LINE - len(name) - 2))


def display_name_words(display_name: str, first_line_room: int) -> list[str]:
    """A display name as header words: atoms as they are, other printable ASCII as one quoted string, anything else
    (non-ASCII, control characters, "=?") as encoded words. Never read by a parser on the way out."""
    if _plain_ascii(display_name):
        if _PHRASE.fullmatch(display_name):
            return display_name.split(" ")
        quoted = '"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) <= _HARD_LINE - 100:
            return [quoted]
    return encoded_words(display_name, first_line_room)


@lru_cache(maxsize=4096)
def address_header(name: str, addr_spec: str, display_name: str | None = None) -> str:
    """`Name: display name <addr-spec>` (or the bare addr-spec) with its CRLF. `HeaderInjection` naming `name` for
    anything but exactly one address, or a line break or NUL in either part. Cached: a campaign has one sender."""
    address = parse_address(name, addr_spec, display_name)
    spec = address.addr_spec
    if not display_name:
        return f"{name}: {spec}{CRLF}"
    return fold_words(name, [*display_name_words(display_name, MAX_LINE - len(name) - 2), f"<{spec}>"])


def quoted_printable(text: str) -> bytes:
    """UTF-8 text as quoted-printable body lines (RFC 2045 §6.7), CRLF line ends, ending with a line end."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalised.endswith("\n"):
        normalised += "\n"
    encoded = binascii.b2a_qp(normalised.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


_TEXT_PART_HEADERS = 'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'


def assemble(headers: Sequence[str], html: str, text: str | None, boundary: str) -> bytes:
    """The raw message: `headers` (each a complete line from the functions above), `MIME-Version`, then the HTML
    part alone or text and HTML alternatives. `boundary` must start with `=_`, which quoted-printable text can never
    contain, so no body can end a part early."""
    assert boundary.startswith("=_"), "a boundary quoted-printable text cannot contain"
    head = "".join(headers) + "MIME-Version: 1.0\r\n"
    if not text:
        return (head + _TEXT_PART_HEADERS.format(subtype="html") + CRLF).encode("ascii") + quoted_printable(html)
    head += f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
    # RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter, so each body keeps its own last CRLF.
    return b"".join(
        (
            head.encode("ascii"),
            f"--{boundary}\r\n".encode("ascii"),
            _TEXT_PART_HEADERS.format(subtype="plain").encode("ascii"),
            b"\r\n",
            quoted_printable(text),
            f"\r\n--{boundary}\r\n".encode("ascii"),
            _TEXT_PART_HEADERS.format(subtype="html").encode("ascii"),
            b"\r\n",
            quoted_printable(html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )
