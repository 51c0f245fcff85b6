"""What one campaign email is built from besides its rendered content: sender, recipient and the ids that tie the
message back to its campaign. Its own module because both the header check and the MIME builder read it."""

from __future__ import annotations

from dataclasses import dataclass


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
