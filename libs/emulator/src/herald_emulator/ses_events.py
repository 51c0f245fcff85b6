"""SES event publishing, as SES does it: event JSON for each accepted send, published to the configuration set's
SNS topic (moto's SES accepts an event destination but never emits anything).

The shapes follow "Contents of event data that Amazon SES publishes to Amazon SNS" (SES developer guide). Outcomes
follow the SES mailbox simulator: `bounce@`, `ooto@`, `complaint@`, `suppressionlist@simulator.amazonses.com` (a
`+label` is allowed); any other address is delivered.
"""

from __future__ import annotations

import heapq
import itertools
import json
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from moto.sns.models import sns_backends

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_emulator.messages import SendRequest

log = structlog.get_logger("herald.emulator")

SIMULATOR_DOMAIN = "simulator.amazonses.com"
# Follow-up events trail the Send event by a few milliseconds, so consumers see them in a natural order.
FOLLOW_UP_DELAY = 0.005
REPORTING_MTA = "a8-70.smtp-out.amazonses.com"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _feedback_id() -> str:
    return f"{secrets.token_hex(8)}-{uuid.uuid4()}-000000"


def simulator_outcome(address: str) -> str:
    """`delivery`, `bounce`, `ooto`, `complaint` or `suppressionlist` for one destination address."""
    local, _, domain = address.lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return "delivery"
    mailbox = local.split("+", 1)[0]
    return mailbox if mailbox in ("bounce", "ooto", "complaint", "suppressionlist") else "delivery"


def mail_object(
    message_id: str, request: SendRequest, sent_at: datetime, account_id: str, region: str
) -> dict[str, Any]:
    tags: dict[str, list[str]] = {
        "ses:operation": [request.operation],
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [request.from_domain],
        "ses:caller-identity": ["herald"],
    }
    if request.configuration_set:
        tags["ses:configuration-set"] = [request.configuration_set]
    for name, value in request.tags.items():
        tags[name] = [value]
    common: dict[str, Any] = {
        "from": request.header_values("From") or [request.source],
        "to": request.header_values("To") or list(request.destinations),
        "messageId": message_id,
    }
    if request.subject is not None:
        common["subject"] = request.subject
    return {
        "timestamp": _iso(sent_at),
        "source": request.source_address,
        "sourceArn": f"arn:aws:ses:{region}:{account_id}:identity/{request.from_domain}",
        "sendingAccountId": account_id,
        "messageId": message_id,
        "destination": list(request.destinations),
        "headersTruncated": False,
        "headers": [{"name": name, "value": value} for name, value in request.headers],
        "commonHeaders": common,
        "tags": tags,
    }


def _delivery(recipient: str, at: datetime, sent_at: datetime) -> dict[str, Any]:
    return {
        "timestamp": _iso(at),
        "processingTimeMillis": int((at - sent_at).total_seconds() * 1000),
        "recipients": [recipient],
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": REPORTING_MTA,
    }


def _bounce(recipient: str, at: datetime, bounce_type: str, sub_type: str) -> dict[str, Any]:
    if sub_type == "Suppressed":
        status, code = (
            "5.1.1",
            "Amazon SES has suppressed sending to this address because it is on the suppression list.",
        )
    elif bounce_type == "Transient":
        status, code = "4.4.7", "smtp; 452 4.2.2 The recipient is out of the office and the mailbox is full"
    else:
        status, code = "5.1.1", "smtp; 550 5.1.1 user unknown"
    return {
        "bounceType": bounce_type,
        "bounceSubType": sub_type,
        "bouncedRecipients": [
            {"emailAddress": recipient, "action": "failed", "status": status, "diagnosticCode": code}
        ],
        "timestamp": _iso(at),
        "feedbackId": _feedback_id(),
        "reportingMTA": f"dsn; {REPORTING_MTA}",
    }


def _complaint(recipient: str, at: datetime) -> dict[str, Any]:
    return {
        "complainedRecipients": [{"emailAddress": recipient}],
        "timestamp": _iso(at),
        "feedbackId": _feedback_id(),
        "userAgent": "Amazon SES Mailbox Simulator",
        "complaintFeedbackType": "abuse",
        "arrivalDate": _iso(at),
    }


def _delivery_delay(recipient: str, at: datetime) -> dict[str, Any]:
    return {
        "timestamp": _iso(at),
        "delayType": "TransientCommunicationFailure",
        "expirationTime": _iso(at + timedelta(hours=14)),
        "delayedRecipients": [
            {
                "emailAddress": recipient,
                "status": "4.4.1",
                "diagnosticCode": "smtp; 421 4.7.28 Our system has detected an unusual rate of unsolicited mail",
            }
        ],
    }


# Outcomes that are one SES Bounce event: (bounceType, bounceSubType).
_BOUNCES = {
    "bounce": ("Permanent", "General"),
    "suppressionlist": ("Permanent", "Suppressed"),
    "transient_bounce": ("Transient", "General"),
    "ooto": ("Transient", "General"),
}


def build_events(
    mail: dict[str, Any], sent_at: datetime, injected: Callable[[str], str | None] | None = None
) -> list[tuple[float, dict[str, Any]]]:
    """(delay in seconds, event) for one accepted message: one Send, then each recipient's outcome. `injected` is
    the domain fault's pick for a recipient: `delay` (a DeliveryDelay, then the Delivery) or `transient_bounce`."""
    events: list[tuple[float, dict[str, Any]]] = [(0.0, {"eventType": "Send", "mail": mail, "send": {}})]
    first, second = FOLLOW_UP_DELAY, 2 * FOLLOW_UP_DELAY
    at1, at2 = sent_at + timedelta(seconds=first), sent_at + timedelta(seconds=second)
    for recipient in mail["destination"]:
        outcome = (injected(recipient) if injected else None) or simulator_outcome(recipient)
        if outcome == "delay":
            events.append(
                (first, {"eventType": "DeliveryDelay", "mail": mail, "deliveryDelay": _delivery_delay(recipient, at1)})
            )
            events.append(
                (second, {"eventType": "Delivery", "mail": mail, "delivery": _delivery(recipient, at2, sent_at)})
            )
        elif outcome in _BOUNCES:
            kind, subtype = _BOUNCES[outcome]
            events.append(
                (first, {"eventType": "Bounce", "mail": mail, "bounce": _bounce(recipient, at1, kind, subtype)})
            )
        else:
            events.append(
                (first, {"eventType": "Delivery", "mail": mail, "delivery": _delivery(recipient, at1, sent_at)})
            )
            if outcome == "complaint":
                events.append(
                    (second, {"eventType": "Complaint", "mail": mail, "complaint": _complaint(recipient, at2)})
                )
    return events


class EventPublisher:
    """Publishes scheduled events to SNS through moto's backend, in-process, on one background thread.

    In-process publishing makes moto deliver to the topic's SQS subscriptions exactly as a Publish call would,
    without an HTTP round trip per event.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str, str, str]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._busy = False
        self.published = 0

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="herald-emulator-ses-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def schedule(self, delay: float, account_id: str, region: str, topic_arn: str, event: dict[str, Any]) -> None:
        entry = (time.monotonic() + delay, next(self._seq), account_id, region, topic_arn, json.dumps(event))
        with self._cond:
            heapq.heappush(self._heap, entry)
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every scheduled event is published (for reset and tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.01))
        return True

    def _next_due(self) -> tuple[str, str, str, str] | None:
        with self._cond:
            while not self._stopping:
                if self._heap and self._heap[0][0] <= time.monotonic():
                    _, _, account_id, region, topic_arn, message = heapq.heappop(self._heap)
                    self._busy = True
                    return account_id, region, topic_arn, message
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._cond.wait(timeout)
        return None

    def _run(self) -> None:
        while (item := self._next_due()) is not None:
            account_id, region, topic_arn, message = item
            try:
                sns_backends[account_id][region].publish(message, arn=topic_arn)
                self.published += 1
            except Exception as exc:  # a deleted topic (reset) must not kill the publisher
                log.warning("emulator.ses_event_publish_failed", topic=topic_arn, error=repr(exc))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
