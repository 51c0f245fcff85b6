"""SQS message body → `SesEvent`.

Accepts SNS's envelope (`{"Type": "Notification", "Message": "<json>"}`) or the SES event itself (raw delivery), in
SES's event-publishing form (`eventType`) or the identity-notification form (`notificationType`). Attribution reads
the SES tags first and the `X-Herald-*` headers second, so an event that arrives before the processor stored the
message id still counts (docs/architecture.md, "SES").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import orjson

from herald_analytics.events.schemas import BounceType, CampaignRef, EventType, SesEvent

TENANT_TAG, CAMPAIGN_TAG, TEST_TAG = "herald-tenant", "herald-campaign", "herald-test"
TENANT_HEADER, CAMPAIGN_HEADER, RECIPIENT_HEADER, TEST_HEADER = (
    "x-herald-tenant",
    "x-herald-campaign",
    "x-herald-recipient",
    "x-herald-test",
)
# Both ids become parts of DynamoDB keys (`tenant#campaign`): anything else is not one of ours.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A plain `local@domain` that `parseaddr` would return unchanged (no display name, comment, quote or space).
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\Z")

# The event's own detail object, per type (SES event-publishing schema).
_DETAIL_KEY = {
    EventType.SEND: "send",
    EventType.DELIVERY: "delivery",
    EventType.BOUNCE: "bounce",
    EventType.COMPLAINT: "complaint",
    EventType.REJECT: "reject",
    EventType.DELIVERY_DELAY: "deliveryDelay",
    EventType.RENDERING_FAILURE: "failure",
    EventType.OPEN: "open",
    EventType.CLICK: "click",
    EventType.SUBSCRIPTION: "subscription",
}
# SES spells this one with a space in `eventType`.
_TYPE_ALIASES = {"Rendering Failure": EventType.RENDERING_FAILURE}
# Notifications that are not about a message: SES's topic test and SNS's subscription handshake.
_IGNORED_NOTIFICATIONS = frozenset({"AmazonSnsSubscriptionSucceeded", "Received"})


class EventRejected(Exception):
    """The message cannot be counted; it goes to the dead-letter queue for a human to look at."""


class MalformedEvent(EventRejected):
    """Not JSON, or not an SES event in either form."""


class UnattributableEvent(EventRejected):
    """An SES event with neither tags nor headers naming a tenant and a campaign."""


@dataclass(frozen=True)
class Attribution:
    campaign: CampaignRef | None
    is_test: bool
    recipient: str | None  # X-Herald-Recipient: the ledger's key for this message


def parse_message(body: str) -> SesEvent | None:
    """The event in an SQS body, or None for a notification that is about no message (nothing to count)."""
    document = _load(body)
    if "Type" in document and "Message" in document:  # SNS envelope
        if document["Type"] != "Notification":
            return None  # SubscriptionConfirmation and friends: no event inside
        message = document["Message"]
        document = _load(message) if isinstance(message, str) else _require_mapping(message, "Message")
    return parse_event(document)


def parse_event(document: Mapping[str, Any]) -> SesEvent | None:
    """An SES event document (either form) → `SesEvent`; raises `EventRejected` when it cannot be counted."""
    raw_type = document.get("eventType", document.get("notificationType"))
    if raw_type in _IGNORED_NOTIFICATIONS:
        return None
    event_type = _event_type(raw_type)
    mail = _require_mapping(document.get("mail"), "mail")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedEvent("mail.messageId is missing")
    detail = document.get(_DETAIL_KEY[event_type]) or {}
    if not isinstance(detail, Mapping):
        raise MalformedEvent(f"{_DETAIL_KEY[event_type]} is not an object")

    attribution = attribute(mail)
    if attribution.campaign is None and not attribution.is_test:
        raise UnattributableEvent(f"{event_type.value} for message {message_id} names no tenant and campaign")
    recipients = _recipients(event_type, detail, mail, attribution.recipient)
    if not recipients:
        raise MalformedEvent(f"{event_type.value} for message {message_id} names no recipient")
    timestamp = detail.get("timestamp") or mail.get("timestamp") or ""
    return SesEvent(
        event_type=event_type,
        message_id=message_id,
        timestamp=str(timestamp),
        recipients=recipients,
        campaign=attribution.campaign,
        is_test=attribution.is_test,
        bounce_type=_bounce_type(detail) if event_type is EventType.BOUNCE else None,
        feedback_id=_str_or_none(detail.get("feedbackId")),
        link=_str_or_none(detail.get("link")),
        complaint_feedback_type=_str_or_none(detail.get("complaintFeedbackType")),
        user_agent=_str_or_none(detail.get("userAgent")),
        sending_domain=_sending_domain(mail),
    )


def _sending_domain(mail: Mapping[str, Any]) -> str | None:
    tags = mail.get("tags")
    domain = _tag(tags, "ses:from-domain") if isinstance(tags, Mapping) else None
    if domain is None and isinstance(mail.get("source"), str):
        domain = mail["source"].rpartition("@")[2].rstrip(">") or None
    return domain.lower() if domain else None


def attribute(mail: Mapping[str, Any]) -> Attribution:
    """Tenant and campaign from `mail.tags` (values are lists), else from `mail.headers`; a pure function."""
    raw_tags = mail.get("tags")
    tags: Mapping[str, Any] = raw_tags if isinstance(raw_tags, Mapping) else {}
    headers = _headers(mail.get("headers"))
    tenant = _tag(tags, TENANT_TAG) or headers.get(TENANT_HEADER)
    campaign = _tag(tags, CAMPAIGN_TAG) or headers.get(CAMPAIGN_HEADER)
    is_test = (_tag(tags, TEST_TAG) or headers.get(TEST_HEADER) or "").lower() == "true"
    ref = None
    if tenant and campaign and _ID.match(tenant) and _ID.match(campaign):
        ref = CampaignRef(tenant_id=tenant, campaign_id=campaign)
    recipient = _address(headers.get(RECIPIENT_HEADER))
    return Attribution(campaign=ref, is_test=is_test, recipient=recipient)


def _load(text: str) -> Mapping[str, Any]:
    try:
        document = orjson.loads(text)  # several times faster than json; SES bodies are parsed twice (envelope)
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from exc
    return _require_mapping(document, "body")


def _require_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{what} is not a JSON object")
    return value


def _event_type(raw: object) -> EventType:
    if not isinstance(raw, str):
        raise MalformedEvent("neither eventType nor notificationType is present")
    if raw in _TYPE_ALIASES:
        return _TYPE_ALIASES[raw]
    try:
        return EventType(raw)
    except ValueError as exc:
        raise MalformedEvent(f"unknown SES event type {raw!r}") from exc


def _bounce_type(detail: Mapping[str, Any]) -> BounceType:
    try:
        return BounceType(str(detail.get("bounceType")))
    except ValueError:
        return BounceType.UNDETERMINED


def _tag(tags: Mapping[str, Any], name: str) -> str | None:
    value = tags.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def _headers(raw: object) -> dict[str, str]:
    """`mail.headers` (`[{"name", "value"}]`) as a dict with lowercased names; the first occurrence wins."""
    headers: dict[str, str] = {}
    if isinstance(raw, list):
        for header in raw:
            if isinstance(header, Mapping) and isinstance(header.get("name"), str):
                headers.setdefault(header["name"].lower(), str(header.get("value", "")).strip())
    return headers


def _recipients(
    event_type: EventType, detail: Mapping[str, Any], mail: Mapping[str, Any], hint: str | None
) -> tuple[str, ...]:
    """The event's own recipient list, else the X-Herald-Recipient header, else `mail.destination`."""
    listed: list[object] = []
    if event_type is EventType.DELIVERY:
        listed = list(detail.get("recipients") or [])
    else:
        field = {
            EventType.BOUNCE: "bouncedRecipients",
            EventType.COMPLAINT: "complainedRecipients",
            EventType.DELIVERY_DELAY: "delayedRecipients",
        }.get(event_type)
        if field is not None:
            listed = [r.get("emailAddress") for r in detail.get(field) or [] if isinstance(r, Mapping)]
    found = [a for a in (_address(r) for r in listed) if a]
    if not found and hint:
        found = [hint]
    if not found:
        found = [a for a in (_address(r) for r in mail.get("destination") or []) if a]
    return tuple(dict.fromkeys(found))  # de-duplicated, in order


def _address(value: object) -> str | None:
    """A bare, lowercased address (the ledger key) from `a@b` or `"Name" <a@b>`."""
    if not isinstance(value, str):
        return None
    if _BARE_ADDRESS.match(value):  # SES lists bare addresses: skip the RFC 5322 parser (a third of parsing's CPU)
        return value.lower()
    address = parseaddr(value)[1].strip().lower()
    return address if "@" in address else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
