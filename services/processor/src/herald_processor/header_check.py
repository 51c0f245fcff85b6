"""The check every campaign email's input passes before the MIME builder touches it (herald_common.headers).

Kept apart from the builder so the builder can change freely: whatever it becomes, it calls `check_envelope` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald_common.headers import check_message_headers

if TYPE_CHECKING:
    from herald_processor.envelope import Envelope


def check_envelope(envelope: Envelope, subject: str, unsubscribe_url: str) -> None:
    """Raise `HeaderInjection` (naming the field) when any header value holds CR, LF or NUL, or an address field is
    not exactly one address. The rendered subject is checked too: recipient data that would break it fails that
    recipient (`invalid_header`) rather than being folded into something the sender did not write."""
    check_message_headers(
        {
            "subject": subject,
            "List-Unsubscribe": unsubscribe_url,
            "X-Herald-Tenant": envelope.tenant_id,
            "X-Herald-Campaign": envelope.campaign_id,
            "X-Herald-Batch": envelope.batch_id,
            "X-Herald-Recipient": envelope.recipient,
        },
        addresses={
            "fromAddress": (envelope.from_address, envelope.from_name),
            "replyTo": (envelope.reply_to, None),
            "to": (envelope.destination, None),
        },
    )
