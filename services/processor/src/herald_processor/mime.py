"""Building one campaign email as raw MIME: parsed addresses, never concatenated header text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from herald_common.headers import HeaderInjection as HeaderInjection
from herald_common.unsubscribe import UnsubscribeTarget, make_token
from herald_processor.header_check import check_envelope

_LINE_BREAK = re.compile(r"[\r\n]")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


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


def _address(addr_spec: str, display_name: str | None = None) -> Address:
    _no_line_breaks("address", addr_spec)
    _no_line_breaks("display name", display_name)
    try:
        return Address(display_name=display_name or "", addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError) as exc:  # the header parser's errors for an unparsable addr-spec
        raise HeaderInjection(f"not a single address: {addr_spec!r}") from exc


def build_message(envelope: Envelope, subject: str, html: str, text: str | None, unsubscribe: str) -> bytes:
    """The raw RFC 5322 message (CRLF line ends): text and HTML alternatives, Herald and RFC 8058 headers."""
    check_envelope(envelope, subject, unsubscribe)
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(envelope.from_address, envelope.from_name)
    message["To"] = _address(envelope.destination)
    if envelope.reply_to:
        message["Reply-To"] = _address(envelope.reply_to)
    # A rendered subject carries recipient data: a line break there is folded to a space, not trusted.
    message["Subject"] = " ".join(_LINE_BREAK.sub(" ", subject).split())
    message["Message-ID"] = make_msgid(domain=envelope.from_address.rpartition("@")[2] or None)
    message["X-Herald-Tenant"] = envelope.tenant_id
    message["X-Herald-Campaign"] = envelope.campaign_id
    message["X-Herald-Batch"] = envelope.batch_id
    message["X-Herald-Recipient"] = envelope.recipient
    message["X-Herald-Attempt"] = str(envelope.attempt)
    _no_line_breaks("unsubscribe URL", unsubscribe)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if text:
        message.set_content(text, subtype="plain", cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    else:
        message.set_content(html, subtype="html", cte="quoted-printable")
    return message.as_bytes()
