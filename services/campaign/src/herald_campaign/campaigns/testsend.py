"""Test sends: a campaign rendered and sent to a few given addresses, outside the statistics and the ledger.

A test email obeys every sending rule but the ledger: the campaign must be a draft, scheduled or paused; its sender
must pass sender authentication as `/send` requires; suppressed addresses are skipped; each tenant may send at most
`HERALD_TEST_SEND_PER_HOUR` test emails per clock hour (429 beyond). Every test email carries the SES tags
`herald-test`, `herald-tenant`, `herald-campaign` and the headers `X-Herald-Test`, `X-Herald-Tenant`,
`X-Herald-Campaign`, so analytics leaves it out of the statistics but still puts a hard bounce or complaint on the
tenant's suppression list; and a real signed `List-Unsubscribe` link. The message is written by the kit's header
builder (`herald_common.mime`), the processor's, so no encoded word in a name or subject is ever decoded.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from herald_campaign.campaigns.models import CampaignStatus
from herald_common.headers import HeaderInjection as HeaderInjection
from herald_common.headers import check_message_headers
from herald_common.mime import address_header, assemble, unstructured_header
from herald_common.unsubscribe import UnsubscribeTarget, make_token

if TYPE_CHECKING:
    from herald_campaign.campaigns.models import Campaign

# SPEC: a test send goes to at most this many addresses.
MAX_TEST_ADDRESSES = 10
# A test send previews a campaign that has not finished: once it is sending, sent, cancelled or failed, the real
# messages (or none) are what its recipients get, and a "test" would only be another way to mail people.
TESTABLE_STATUSES = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED})

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


def unsubscribe_link(public_url: str, secret: str, c: Campaign, email: str) -> str:
    """The signed one-click link, as the processor makes it: a test recipient can unsubscribe like any other."""
    token = make_token(secret, UnsubscribeTarget(tenant_id=c.tenant_id, campaign_id=c.campaign_id, email=email))
    return f"{public_url.rstrip('/')}/u/{token}"


def build_test_message(
    c: Campaign, destination: str, subject: str, html: str, text: str | None, unsubscribe: str = ""
) -> bytes:
    """The raw RFC 5322 test message (CRLF line ends): text and HTML alternatives, the Herald test headers and, with
    `unsubscribe`, the RFC 8058 headers."""
    check_message_headers(
        {
            "subject": subject,
            "X-Herald-Tenant": c.tenant_id,
            "X-Herald-Campaign": c.campaign_id,
            "List-Unsubscribe": unsubscribe,
        },
        addresses={
            "fromAddress": (c.from_address, c.from_name),
            "replyTo": (c.reply_to, None),
            "to": (destination, None),
        },
    )
    domain = c.from_address.rpartition("@")[2]
    if not (domain.isascii() and domain.isprintable()) or not domain or "<" in domain or ">" in domain:
        domain = "herald.invalid"
    headers = [
        address_header("From", c.from_address, c.from_name),
        address_header("To", destination),
        address_header("Reply-To", c.reply_to) if c.reply_to else "",
        unstructured_header("Subject", " ".join(f"[TEST] {subject}".split())),
        f"Message-ID: <{secrets.token_hex(16)}@{domain}>\r\n",
        "X-Herald-Test: true\r\n",
        unstructured_header("X-Herald-Tenant", c.tenant_id),
        unstructured_header("X-Herald-Campaign", c.campaign_id),
    ]
    if unsubscribe:
        headers += [
            unstructured_header("List-Unsubscribe", f"<{unsubscribe}>"),
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        ]
    return assemble(headers, html, text, f"=_herald_{secrets.token_hex(12)}")
