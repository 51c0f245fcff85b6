"""One campaign email as raw MIME (RFC 5322, RFC 2045–2047), once per recipient, from the kit's header builder.

Python's `email` package costs about 6 ms per message of this shape, several times an SES call; a campaign email
has a fixed shape, so it is written directly with `herald_common.mime`, the same builder the campaign service's test
sends use: display names and subjects are encoded by Herald and never decoded from input, bodies are
quoted-printable, and the multipart boundary starts with `=_`, which quoted-printable text can never contain.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from herald_common.headers import HeaderInjection as HeaderInjection
from herald_common.mime import address_header, assemble, unstructured_header
from herald_common.mime import quoted_printable as quoted_printable
from herald_common.unsubscribe import UnsubscribeTarget, make_token
from herald_processor.header_check import check_envelope

if TYPE_CHECKING:
    from herald_processor.envelope import Envelope

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


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


def message_id_domain(from_address: str) -> str:
    domain = from_address.rpartition("@")[2]
    if not (domain.isascii() and domain.isprintable()) or not domain or "<" in domain or ">" in domain:
        return "herald.invalid"
    return domain


def build_message(envelope: Envelope, subject: str, html: str, text: str | None, unsubscribe: str) -> bytes:
    """The raw RFC 5322 message (CRLF line ends): text and HTML alternatives, Herald and RFC 8058 headers."""
    check_envelope(envelope, subject, unsubscribe)
    clean_subject = " ".join(subject.split())
    headers = [
        address_header("From", envelope.from_address, envelope.from_name),
        address_header("To", envelope.destination),
        address_header("Reply-To", envelope.reply_to) if envelope.reply_to else "",
        unstructured_header("Subject", clean_subject) if clean_subject else "Subject: \r\n",
        f"Message-ID: <{secrets.token_hex(16)}@{message_id_domain(envelope.from_address)}>\r\n",
        unstructured_header("X-Herald-Tenant", envelope.tenant_id),
        unstructured_header("X-Herald-Campaign", envelope.campaign_id),
        unstructured_header("X-Herald-Batch", envelope.batch_id),
        unstructured_header("X-Herald-Recipient", envelope.recipient),
        f"X-Herald-Attempt: {int(envelope.attempt)}\r\n",
        unstructured_header("List-Unsubscribe", f"<{unsubscribe}>"),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
    ]
    return assemble(headers, html, text, f"=_herald_{secrets.token_hex(12)}")
