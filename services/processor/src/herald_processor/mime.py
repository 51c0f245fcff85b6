"""Building one campaign email as raw MIME (RFC 5322, RFC 2045–2047), by hand, once per recipient.

Python's `email` package costs about 6 ms per message of this shape, several times an SES call; a campaign email
has a fixed shape, so it is written directly: addresses are parsed and formatted by the `email` package once per
distinct address (cached), every other header is printable ASCII written as is or RFC 2047 encoded words, bodies are
quoted-printable (`binascii.b2a_qp`, C), and the multipart boundary starts with `=_`, which quoted-printable text can
never contain. Nothing is concatenated from untrusted text without a line-break check.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.policy import SMTP
from functools import lru_cache

from herald_common.headers import SIMPLE_ADDR_SPEC
from herald_common.headers import HeaderInjection as HeaderInjection
from herald_common.unsubscribe import UnsubscribeTarget, make_token
from herald_processor.header_check import check_envelope

_LINE_BREAK = re.compile(r"[\r\n]")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_CRLF = "\r\n"
MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters (998 is the hard limit)
# RFC 2047 §2: an encoded word is at most 75 characters; `=?utf-8?b?` + `?=` leave 63 for base64, i.e. 45 bytes.
_ENCODED_WORD_BYTES = 45


@dataclass(frozen=True)
class Envelope:
    """Who sends, to whom, and the ids that tie the message back to its campaign."""

    tenant_id: str
    campaign_id: str
    batch_id: str
    recipient: str  # the ledger key
    destination: str  # what goes in To: (ASCII domain)
    attempt: int
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None


def tag_value(value: str) -> str:
    """SES tag values allow only `[A-Za-z0-9_-]` (at most 256 characters)."""
    return _TAG_UNSAFE.sub("_", value)[:256] or "_"


def ses_tags(envelope: Envelope) -> dict[str, str]:
    return {
        "herald-tenant": tag_value(envelope.tenant_id),
        "herald-campaign": tag_value(envelope.campaign_id),
        "herald-batch": tag_value(envelope.batch_id),
        "herald-attempt": str(envelope.attempt),
    }


def unsubscribe_url(public_url: str, secret: str, tenant_id: str, campaign_id: str, email: str) -> str:
    token = make_token(secret, UnsubscribeTarget(tenant_id=tenant_id, campaign_id=campaign_id, email=email))
    return f"{public_url.rstrip('/')}/u/{token}"


def _no_line_breaks(name: str, value: str | None) -> None:
    if value is not None and _LINE_BREAK.search(value):
        raise HeaderInjection(f"{name} contains a line break")


@lru_cache(maxsize=1024)
def address_header(name: str, addr_spec: str, display_name: str | None = None) -> str:
    """`Name: address` with its CRLF, as the `email` package's SMTP policy writes it (RFC 2047 display names,
    quoting); refuses anything that is not exactly one address. Cached: a campaign has one sender."""
    _no_line_breaks("address", addr_spec)
    _no_line_breaks("display name", display_name)
    if not display_name and SIMPLE_ADDR_SPEC.fullmatch(addr_spec):  # written as is; anything else through `email`
        return f"{name}: {addr_spec}{_CRLF}"
    try:
        address = Address(display_name=display_name or "", addr_spec=addr_spec)
        _, header = SMTP.header_store_parse(name, address)
        return SMTP.fold_binary(name, header).decode("ascii")
    except (ValueError, IndexError, HeaderParseError) as exc:  # the header parser's errors for an unparsable addr-spec
        raise HeaderInjection(f"not a single address: {addr_spec!r}") from exc


def _encoded_words(value: str, first_line_room: int) -> list[str]:
    """RFC 2047 `B` encoded words of at most 75 characters, never splitting a character; the first one short enough
    to share a line of at most 78 characters with the header's name (`first_line_room` characters are left)."""
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


def _fold_words(name: str, words: list[str]) -> str:
    """`Name: words…` folded before a word where a line would pass 78 characters (a word is never split)."""
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return _CRLF.join(lines) + _CRLF


def unstructured_header(name: str, value: str) -> str:
    """`Name: value` with its CRLF (RFC 5322 unstructured): printable ASCII folded at spaces, anything else as
    RFC 2047 encoded words (adjacent encoded words decode without the folding space between them)."""
    _no_line_breaks(name, value)
    if value.isascii() and value.isprintable() and "=?" not in value:
        words = value.split(" ")
        if all(words) and all(len(w) <= 998 - 2 - len(name) for w in words):
            return _fold_words(name, words)
    return _fold_words(name, _encoded_words(value, MAX_LINE - len(name) - 2))


def quoted_printable(text: str) -> bytes:
    """UTF-8 text as quoted-printable body lines (RFC 2045 §6.7), CRLF line ends, ending with a line end."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalised.endswith("\n"):
        normalised += "\n"
    encoded = binascii.b2a_qp(normalised.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


_TEXT_PART_HEADERS = 'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'


def build_message(envelope: Envelope, subject: str, html: str, text: str | None, unsubscribe: str) -> bytes:
    """The raw RFC 5322 message (CRLF line ends): text and HTML alternatives, Herald and RFC 8058 headers."""
    check_envelope(envelope, subject, unsubscribe)
    domain = envelope.from_address.rpartition("@")[2]
    if not (domain.isascii() and domain.isprintable()) or not domain or "<" in domain or ">" in domain:
        domain = "herald.invalid"
    _no_line_breaks("unsubscribe URL", unsubscribe)
    # A rendered subject carries recipient data: a line break there is folded to a space, not trusted.
    clean_subject = " ".join(_LINE_BREAK.sub(" ", subject).split())
    headers = [
        address_header("From", envelope.from_address, envelope.from_name),
        address_header("To", envelope.destination),
        address_header("Reply-To", envelope.reply_to) if envelope.reply_to else "",
        unstructured_header("Subject", clean_subject) if clean_subject else "Subject: \r\n",
        f"Message-ID: <{secrets.token_hex(16)}@{domain}>\r\n",
        unstructured_header("X-Herald-Tenant", envelope.tenant_id),
        unstructured_header("X-Herald-Campaign", envelope.campaign_id),
        unstructured_header("X-Herald-Batch", envelope.batch_id),
        unstructured_header("X-Herald-Recipient", envelope.recipient),
        f"X-Herald-Attempt: {int(envelope.attempt)}\r\n",
        unstructured_header("List-Unsubscribe", f"<{unsubscribe}>"),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        "MIME-Version: 1.0\r\n",
    ]
    if not text:
        head = "".join(headers) + _TEXT_PART_HEADERS.format(subtype="html") + _CRLF
        return head.encode("ascii") + quoted_printable(html)
    boundary = f"=_herald_{secrets.token_hex(12)}"
    head = "".join(headers) + f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
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
