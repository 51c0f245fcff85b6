"""Test sends: a campaign rendered and sent to a few given addresses, outside the statistics and the ledger.

Every test email carries the SES tag `herald-test` = `true` and the header `X-Herald-Test: true`, so analytics
leaves its events out (docs/architecture.md). The SES client is the kit's, without automatic retries.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import TYPE_CHECKING

from herald_common.headers import HeaderInjection as HeaderInjection
from herald_common.headers import check_message_headers

if TYPE_CHECKING:
    from herald_campaign.campaigns.models import Campaign

# SPEC: a test send goes to at most this many addresses.
MAX_TEST_ADDRESSES = 10

_LINE_BREAK = re.compile(r"[\r\n]")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tag_value(value: str) -> str:
    """SES tag values allow only `[A-Za-z0-9_-]`."""
    return _TAG_UNSAFE.sub("_", value)[:256] or "_"


def herald_test_tags(c: Campaign) -> dict[str, str]:
    return {
        "herald-test": "true",
        "herald-tenant": tag_value(c.tenant_id),
        "herald-campaign": tag_value(c.campaign_id),
    }


def _address(addr_spec: str, display_name: str | None = None) -> Address:
    for value in (addr_spec, display_name):
        if value is not None and _LINE_BREAK.search(value):
            raise HeaderInjection("a header value contains a line break")
    try:
        return Address(display_name=display_name or "", addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise HeaderInjection(f"not a single address: {addr_spec!r}") from exc


def build_test_message(c: Campaign, destination: str, subject: str, html: str, text: str | None) -> bytes:
    """The raw RFC 5322 test message (CRLF line ends): text and HTML alternatives plus the Herald test headers."""
    check_message_headers(
        {"subject": subject, "X-Herald-Tenant": c.tenant_id, "X-Herald-Campaign": c.campaign_id},
        addresses={
            "fromAddress": (c.from_address, c.from_name),
            "replyTo": (c.reply_to, None),
            "to": (destination, None),
        },
    )
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(c.from_address, c.from_name)
    message["To"] = _address(destination)
    if c.reply_to:
        message["Reply-To"] = _address(c.reply_to)
    message["Subject"] = "[TEST] " + " ".join(_LINE_BREAK.sub(" ", subject).split())
    message["Message-ID"] = make_msgid(domain=c.from_address.rpartition("@")[2] or None)
    message["X-Herald-Test"] = "true"
    message["X-Herald-Tenant"] = c.tenant_id
    message["X-Herald-Campaign"] = c.campaign_id
    if text:
        message.set_content(text, subtype="plain", cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    else:
        message.set_content(html, subtype="html", cte="quoted-printable")
    return message.as_bytes()
