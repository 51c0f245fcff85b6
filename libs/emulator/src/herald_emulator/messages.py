"""SES send requests as the emulator sees them on the wire, and the log of the ones moto accepted.

moto keeps only one body part of a sent message, and neither its headers, configuration set nor tags; Herald's tests
need all of them, so the emulator reads them from the request itself (SES v2 JSON or SES v1 form post).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Any
from urllib.parse import parse_qs

V2_SEND_PATH = "/v2/email/outbound-emails"
V1_SEND_ACTIONS = ("SendEmail", "SendRawEmail")


@dataclass
class SendRequest:
    """One SES send call: who, to whom, with which configuration set, tags and headers."""

    api: str  # "v1" or "v2"
    operation: str  # SES's own operation name, as in the `ses:operation` tag
    source: str
    destinations: list[str]
    subject: str | None
    configuration_set: str | None
    tags: dict[str, str] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    tenant_name: str | None = None  # SES v2 `TenantName`: the SES tenant the message is sent under

    @property
    def source_address(self) -> str:
        return parseaddr(self.source)[1] or self.source

    @property
    def from_domain(self) -> str:
        return self.source_address.rpartition("@")[2].lower()

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def _raw_headers(data: str) -> list[tuple[str, str]]:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return []
    # compat32 returns the raw header text (the default policy's header objects cost ~5 % of the emulator's CPU);
    # only RFC 2047 encoded words need decoding.
    message = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [(name, _decoded(str(value))) for name, value in message.items()]


def _decoded(value: str) -> str:
    if "=?" not in value:
        return " ".join(value.split())
    return str(make_header(decode_header(value)))


def _addresses_from_headers(headers: list[tuple[str, str]]) -> list[str]:
    values = [value for name, value in headers if name.lower() in ("to", "cc", "bcc")]
    return [address for _, address in getaddresses(values) if address]


def _finish(request: SendRequest, explicit_destinations: list[str]) -> SendRequest:
    # SES sends a raw message to the explicit destinations when given, else to the To/Cc/Bcc headers.
    request.destinations = explicit_destinations or _addresses_from_headers(request.headers)
    if not request.source:
        request.source = next(iter(request.header_values("From")), "")
    if request.subject is None:
        request.subject = next(iter(request.header_values("Subject")), None)
    if not request.headers:  # a Simple message: SES builds these headers itself
        request.headers = [("From", request.source), ("To", ", ".join(request.destinations))]
        if request.subject is not None:
            request.headers.append(("Subject", request.subject))
    return request


def parse_v2_send(body: bytes) -> SendRequest | None:
    """An SES v2 SendEmail body, or None when it is not JSON (moto will answer the error)."""
    try:
        params: dict[str, Any] = json.loads(body or b"{}")
    except ValueError:
        return None
    destination = params.get("Destination") or {}
    explicit = [
        *destination.get("ToAddresses", []),
        *destination.get("CcAddresses", []),
        *destination.get("BccAddresses", []),
    ]
    content = params.get("Content") or {}
    headers: list[tuple[str, str]] = []
    subject: str | None = None
    if "Raw" in content:
        headers = _raw_headers(str(content["Raw"].get("Data", "")))
    elif "Simple" in content:
        subject = (content["Simple"].get("Subject") or {}).get("Data")
        extra = [(h["Name"], h["Value"]) for h in content["Simple"].get("Headers", [])]
        headers = [] if not extra else [("Subject", subject or ""), *extra]
    request = SendRequest(
        api="v2",
        operation="SendEmail",
        source=params.get("FromEmailAddress") or "",
        destinations=[],
        subject=subject,
        configuration_set=params.get("ConfigurationSetName"),
        tags={t["Name"]: t["Value"] for t in params.get("EmailTags", [])},
        headers=headers,
        tenant_name=params.get("TenantName"),
    )
    return _finish(request, explicit)


def _members(form: dict[str, list[str]], prefix: str) -> list[str]:
    pattern = re.compile(re.escape(prefix) + r"\.member\.(\d+)$")
    found = sorted((int(m.group(1)), values[0]) for key, values in form.items() if (m := pattern.match(key)))
    return [value for _, value in found]


def parse_v1_send(body: bytes) -> SendRequest | None:
    """An SES v1 SendEmail/SendRawEmail form post, or None for any other SES v1 action."""
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    action = form.get("Action", [""])[0]
    if action not in V1_SEND_ACTIONS:
        return None

    def one(key: str) -> str | None:
        return form[key][0] if key in form else None

    tags: dict[str, str] = {}
    index = 1
    while (name := one(f"Tags.member.{index}.Name")) is not None:
        tags[name] = one(f"Tags.member.{index}.Value") or ""
        index += 1
    if action == "SendRawEmail":
        explicit = _members(form, "Destinations")
        headers = _raw_headers(one("RawMessage.Data") or "")
        subject = None
    else:
        explicit = [
            *_members(form, "Destination.ToAddresses"),
            *_members(form, "Destination.CcAddresses"),
            *_members(form, "Destination.BccAddresses"),
        ]
        headers = []
        subject = one("Message.Subject.Data")
    request = SendRequest(
        api="v1",
        operation=action,
        source=one("Source") or "",
        destinations=[],
        subject=subject,
        configuration_set=one("ConfigurationSetName"),
        tags=tags,
        headers=headers,
    )
    return _finish(request, explicit)


_V1_MESSAGE_ID = re.compile(rb"<MessageId>([^<]+)</MessageId>")


def accepted_message_id(api: str, body: bytes) -> str | None:
    """The MessageId in moto's successful answer."""
    if api == "v2":
        try:
            return str(json.loads(body)["MessageId"])
        except (ValueError, KeyError, TypeError):
            return None
    match = _V1_MESSAGE_ID.search(body)
    return match.group(1).decode() if match else None


class MessageLog:
    """Every message the emulator accepted, in order, for `GET /_emulator/ses/messages`. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []

    def record(self, message_id: str, request: SendRequest, sent_at: datetime | None = None) -> dict[str, Any]:
        entry = {
            "messageId": message_id,
            "source": request.source,
            "destinations": list(request.destinations),
            "subject": request.subject,
            "tags": dict(request.tags),
            "headers": dict(request.headers),
            "configurationSet": request.configuration_set,
            "tenantName": request.tenant_name,
            "sentAt": (sent_at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        with self._lock:
            self._messages.append(entry)
        return entry

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def tagged(self, name: str, value: str) -> list[dict[str, Any]]:
        """The messages sent with message tag `name` set to `value`."""
        with self._lock:
            return [m for m in self._messages if m["tags"].get(name) == value]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
