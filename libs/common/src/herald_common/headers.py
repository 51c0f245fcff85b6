"""Email header values: checked before they reach a message, never repaired.

A CR or LF in a header value ends the header and lets whoever wrote the value add their own (`Bcc:`, a second
`From:`); a NUL truncates it in some MTAs; VT, FF, NEL (U+0085), the Unicode line and paragraph separators
(U+2028, U+2029) and the file/group/record separators are line boundaries to `str.splitlines`, which some mail code
folds and splits with. Herald refuses all of them twice: at the API, where the value comes in (a
422 naming the field), and again just before a message is built from it (the processor and the campaign service's
test sends), so a value that reached storage some other way still cannot become a header. Addresses are parsed into
one `Address` each (display name and addr-spec apart), never concatenated into header text; an addr-spec holding
an encoded word is refused, because the `email` parser decodes encoded words inside it. Header lines themselves are
written by `herald_common.mime`.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_FORBIDDEN = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# RFC 2047 §2 encoded word, case-insensitive; spaces allowed inside so a folded or padded one is caught too.
ENCODED_WORD = re.compile(r"=\?[^?]*\?[bq]\?[^?]*\?=", re.IGNORECASE)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# A dot-atom addr-spec (RFC 5322 §3.4.1) in plain ASCII: exactly one address, nothing to quote or encode, so it needs
# no trip through the `email` header parser (which costs tens of microseconds per recipient).
SIMPLE_ADDR_SPEC = re.compile(rf"{_ATOM}(\.{_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_NAMES = {
    "\r": "a carriage return (CR)",
    "\n": "a line feed (LF)",
    "\x00": "a NUL character",
    "\x0b": "a vertical tab (VT)",
    "\x0c": "a form feed (FF)",
    "\x85": "a next-line character (NEL, U+0085)",
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


class HeaderInjection(ValueError):
    """A header value carries a line break or NUL, or an address field is not exactly one address."""

    def __init__(self, field: str, problem: str | None = None) -> None:
        super().__init__(field if problem is None else f"{field} {problem}")
        self.field = field


def header_problem(value: str) -> str | None:
    """What makes `value` unfit for a header (`contains a line feed (LF)`), or None when it is fit."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    return f"contains {_NAMES.get(char, f'a line boundary (U+{ord(char):04X})')}"


def check_header_value(field: str, value: str | None) -> None:
    """Raise `HeaderInjection` naming `field` when `value` holds CR, LF or NUL (None is fine: no header)."""
    if value is not None and (problem := header_problem(value)) is not None:
        raise HeaderInjection(field, problem)


@lru_cache(maxsize=4096)
def _one_address(addr_spec: str, display_name: str) -> Address | None:
    # Cached: a campaign's From and Reply-To are the same for every one of its messages.
    try:
        address = Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError):  # the header parser's errors for a bad addr-spec
        return None
    return address if address.username and address.domain else None


def parse_address(field: str, addr_spec: str, display_name: str | None = None) -> Address:
    """One parsed address for a `From`/`To`/`Reply-To` header; `HeaderInjection` for anything else (two addresses,
    a group, a stray quote, CR/LF/NUL in either part)."""
    check_header_value(field, addr_spec)
    check_header_value(f"{field} display name", display_name)
    if ENCODED_WORD.search(addr_spec):
        raise HeaderInjection(field, "holds an encoded word ('=?'), which no address may contain")
    if not display_name and SIMPLE_ADDR_SPEC.fullmatch(addr_spec):
        username, _, domain = addr_spec.rpartition("@")
        return Address(username=username, domain=domain)
    address = _one_address(addr_spec, display_name or "")
    if address is None:
        raise HeaderInjection(field, f"is not a single address: {addr_spec!r}")
    return address


def check_message_headers(
    values: Mapping[str, str | None], addresses: Mapping[str, tuple[str | None, str | None]] | None = None
) -> None:
    """The check a message builder runs on its input before it builds anything.

    `values`: header name → value (subject, ids, URLs…); `addresses`: header name → (addr-spec, display name), each
    of which must be exactly one address. Raises `HeaderInjection` naming the first bad field."""
    for field, value in values.items():
        check_header_value(field, value)
    for field, (addr_spec, display_name) in (addresses or {}).items():
        if addr_spec is not None:
            parse_address(field, addr_spec, display_name)
