"""What an SES event means to Herald, once parsed: its type, attribution, recipients and effect on the ledger."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    """SES event-publishing types (`eventType`); identity notifications map onto the same names."""

    SEND = "Send"
    DELIVERY = "Delivery"
    BOUNCE = "Bounce"
    COMPLAINT = "Complaint"
    REJECT = "Reject"
    DELIVERY_DELAY = "DeliveryDelay"
    RENDERING_FAILURE = "RenderingFailure"
    OPEN = "Open"
    CLICK = "Click"
    SUBSCRIPTION = "Subscription"


class BounceType(StrEnum):
    PERMANENT = "Permanent"
    TRANSIENT = "Transient"
    UNDETERMINED = "Undetermined"


class Effect(StrEnum):
    """What one event does to one recipient's ledger row."""

    NONE = "none"  # Send, RenderingFailure, Subscription: metrics and logs only
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    SOFT_BOUNCED = "softBounced"
    REJECTED = "rejected"
    COMPLAINED = "complained"
    DELAYED = "delayed"
    OPENED = "opened"
    CLICKED = "clicked"


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class CampaignRef:
    tenant_id: str
    campaign_id: str

    @property
    def ledger_key(self) -> str:
        """The ledger's partition key (docs/architecture.md)."""
        return f"{self.tenant_id}#{self.campaign_id}"


@dataclass(frozen=True)
class SesEvent:
    """One SES event, normalised from either wire form. `campaign` is None only for test sends."""

    event_type: EventType
    message_id: str
    timestamp: str  # the event's own timestamp when it has one, else the message's
    recipients: tuple[str, ...]  # lowercased addresses, the ledger's sort keys
    campaign: CampaignRef | None
    is_test: bool = False
    bounce_type: BounceType | None = None
    feedback_id: str | None = None
    link: str | None = None
    complaint_feedback_type: str | None = None
    user_agent: str | None = None  # Open and Click: who fetched the pixel or followed the link
    sending_domain: str | None = None  # the From domain (SES's `ses:from-domain` tag), for the reputation windows

    @property
    def effect(self) -> Effect:
        return _effect(self)

    @property
    def suppression_reason(self) -> SuppressionReason | None:
        """Hard bounces and complaints put the address on the tenant's suppression list."""
        effect = self.effect
        if effect is Effect.BOUNCED:
            return SuppressionReason.BOUNCE
        if effect is Effect.COMPLAINED:
            return SuppressionReason.COMPLAINT
        return None

    def event_id(self, recipient: str) -> str:
        """The dedupe key: sha256 of `eventType|messageId|recipient|feedbackId or timestamp|link`."""
        parts = (self.event_type.value, self.message_id, recipient, self.feedback_id or self.timestamp, self.link or "")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


_SIMPLE_EFFECTS = {
    EventType.DELIVERY: Effect.DELIVERED,
    EventType.REJECT: Effect.REJECTED,
    EventType.DELIVERY_DELAY: Effect.DELAYED,
    EventType.OPEN: Effect.OPENED,
    EventType.CLICK: Effect.CLICKED,
}


def _effect(event: SesEvent) -> Effect:
    if event.event_type is EventType.BOUNCE:
        # Undetermined: SES could not classify it. Suppressing on a guess would lose a reachable address, so it
        # is recorded like a Transient bounce.
        return Effect.BOUNCED if event.bounce_type is BounceType.PERMANENT else Effect.SOFT_BOUNCED
    if event.event_type is EventType.COMPLAINT:
        # A mailbox provider's "not-spam" feedback withdraws a complaint; it is no complaint to count.
        return Effect.NONE if event.complaint_feedback_type == "not-spam" else Effect.COMPLAINED
    return _SIMPLE_EFFECTS.get(event.event_type, Effect.NONE)
