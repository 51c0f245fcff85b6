"""Speed fixes for moto's SQS, applied in-process by the emulator (moto 5.x). Behaviour is unchanged.

Measured (see shared notes): moto's SQS slows down as a queue grows, because
- every `SendMessage` reads `queue.attributes`, which recomputes the three ApproximateNumberOfMessages* counts
  by walking every message, three times;
- each "is this message visible/delayed" check builds datetimes (`unix_time_millis`, ~10 µs a call);
- `ReceiveMessage` asks `get_queue_attributes` (that same full walk, three times) for every message it returns;
- `DeleteMessage` builds a list of receipt handles for every message in the queue, twice;
- a receipt handle costs 185 `random.choice` calls;
- SNS→SQS delivery builds and signs a new X.509 certificate for every message, with a new 2048-bit key per
  subscription (the emulator signs every message still, with one 1024-bit key and one certificate per subscription).
And every request, whatever the service, lists and stats moto's package directory (~150 `stat` calls) to route it.
The first requests to a service each load its botocore model on their own thread (moto caches it only once one
finishes): 32 concurrent first sends stalled a fresh emulator past the client's read timeout. The models Herald
uses are loaded once, up front (~0.3 s).
At a depth of 1,200 messages that is ~13 SNS→SQS deliveries per second; with these fixes it stays in the
hundreds per second at the depth of a 1,000-recipient campaign's events.
"""

from __future__ import annotations

import base64
import functools
import random
import string
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import Name, NameAttribute
from cryptography.x509.oid import NameOID
from moto import backends as _moto_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.utils import camelcase_to_underscores, get_service_model, iso_8601_datetime_with_milliseconds
from moto.sns import models as _sns_models
from moto.sqs import models as _sqs_models
from moto.sqs.exceptions import ReceiptHandleIsInvalid

from herald_emulator import moto_dynamodb
from herald_emulator.moto_routes import HERALD_SERVICES

# Typed as Any: these are monkeypatched modules, not APIs called as declared.
moto_backends: Any = _moto_backends
sns_models: Any = _sns_models
sqs_models: Any = _sqs_models

_COUNT_ATTRIBUTES = frozenset(
    ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible")
)
_applied = False
_original_unix_time = sqs_models.unix_time
_original_unix_time_millis = sqs_models.unix_time_millis


def _unix_time(dt: Any = None) -> float:
    # Same value as moto's (seconds since the epoch) without building two datetimes per call.
    return time.time() if dt is None else float(_original_unix_time(dt))


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else float(_original_unix_time_millis(dt))


def _message_counts(queue: Any) -> dict[str, int]:
    """The three approximate counts in one walk, with one clock reading (moto: three walks, a clock per check)."""
    now = _unix_time_millis()
    visible = delayed = not_visible = 0
    for message in queue._messages:
        is_visible = now > message.visible_at
        is_delayed = now < message.delayed_until
        visible += is_visible and not is_delayed
        delayed += is_delayed
        not_visible += not is_visible
    return {
        "ApproximateNumberOfMessages": visible,
        "ApproximateNumberOfMessagesDelayed": delayed,
        "ApproximateNumberOfMessagesNotVisible": not_visible,
    }


@functools.cache
def _snake(name: str) -> str:
    return str(camelcase_to_underscores(name))


_NO_COUNTS = dict.fromkeys(_COUNT_ATTRIBUTES, 0)
_sending = threading.local()
_original_send_message = sqs_models.SQSBackend.send_message


def _send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
    _sending.active = True
    try:
        return _original_send_message(self, *args, **kwargs)
    finally:
        _sending.active = False


def _visible_messages(self: Any) -> list[Any]:
    """moto's `Queue.messages` (visible, not delayed) with one clock reading for the whole walk."""
    now = _unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _queue_attributes(self: Any) -> dict[str, Any]:
    """moto's `Queue.attributes`, with the counts computed once, and not at all inside SendMessage (which only
    looks at ContentBasedDeduplication)."""
    result: dict[str, Any] = {}
    counts = _NO_COUNTS if getattr(_sending, "active", False) else _message_counts(self)
    for attribute in self.BASE_ATTRIBUTES:
        if attribute in _COUNT_ATTRIBUTES:
            result[attribute] = counts[attribute]
        else:
            result[attribute] = getattr(self, _snake(attribute))
    if self.fifo_queue:
        for attribute in self.FIFO_ATTRIBUTES:
            result[attribute] = getattr(self, _snake(attribute))
    if self.kms_master_key_id:
        for attribute in self.KMS_ATTRIBUTES:
            result[attribute] = getattr(self, _snake(attribute))
    if self.policy:
        result["Policy"] = self.policy
    if self.redrive_policy:
        result["RedrivePolicy"] = sqs_models.json.dumps(self.redrive_policy)
    for key, value in result.items():
        if isinstance(value, bool):
            result[key] = str(value).lower()
    return result


def _is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention + message.sent_timestamp / 1000 > _unix_time())


def _delete_message(self: Any, receipt_handle: str) -> None:
    """moto's `Queue.delete_message` in one walk, comparing handles without building lists."""
    if receipt_handle in self.deleted_messages:
        return  # already deleted: SQS accepts a repeated delete
    # Under the lock `add_message` appends with: the emulator publishes SES events from its own thread, and a
    # rebuild racing an append would lose the new message (moto's own delete has that race).
    with self._messages_lock:
        messages = self._messages
        index = next(
            (
                i
                for i, message in enumerate(messages)
                if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles
            ),
            None,
        )
        if index is None:
            raise ReceiptHandleIsInvalid()
        message = messages[index]
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        # A new list rather than `del`: other request threads may be walking the old one.
        self._messages = messages[:index] + messages[index + 1 :]


def _generate_receipt_handle() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=185))


def _signing_certificate_url(subscription: Any, key: Any, region: str) -> str:
    """One certificate per subscription (moto: one per message), published where moto serves it."""
    keys = sns_models.sns_backends[DEFAULT_ACCOUNT_ID][region]._message_public_keys
    name: str | None = getattr(subscription, "_herald_certificate", None)
    if name is None or name not in keys:
        issuer = [
            NameAttribute(NameOID.COUNTRY_NAME, "US"),
            NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
            NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
        ]
        now = datetime.now(UTC).replace(tzinfo=None)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(Name([NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
            .issuer_name(Name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
        keys[name] = certificate.public_bytes(serialization.Encoding.PEM)
        subscription._herald_certificate = name
    return f"https://sns.{region}.amazonaws.com/{name}"


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    # One key for the process (moto: a 2048-bit key per subscription, ~0.1 s to make, ~2 ms a signature). 1024 bits
    # keeps signatures real and verifiable against the certificate at a quarter of the cost.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _get_post_data(
    self: Any, message: str, message_id: str, subject: str | None, message_attributes: Any = None
) -> dict[str, Any]:
    """moto's `Subscription.get_post_data` (the SNS envelope, signed, SignatureVersion 2), certificate reused."""
    key = _signing_key()
    region = self.topic.sns_backend.region_name
    timestamp = iso_8601_datetime_with_milliseconds()
    string_to_sign = (
        f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\n"
        f"TopicArn\n{self.topic.arn}\nType\nNotification\n"
    )
    signature = key.sign(string_to_sign.encode("UTF-8"), padding.PKCS1v15(), hashes.SHA256())
    post_data: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": self.topic.arn,
        "Message": message,
        "Timestamp": timestamp,
        "SignatureVersion": "2",
        "Signature": base64.b64encode(signature).decode("utf-8"),
        "SigningCertURL": _signing_certificate_url(self, key, region),
        "UnsubscribeURL": (f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.arn}"),
    }
    if subject:
        post_data["Subject"] = subject
    if message_attributes:
        post_data["MessageAttributes"] = message_attributes
    return post_data


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_original_list_of_moto_modules())


_original_list_of_moto_modules = moto_backends.list_of_moto_modules


def apply() -> None:
    """Install the fixes once per process (moto's models are process-global)."""
    global _applied
    if _applied:
        return
    for service in HERALD_SERVICES:
        get_service_model(service)
    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.Queue.attributes = property(_queue_attributes)
    sqs_models.Queue.messages = property(_visible_messages)
    sqs_models.SQSBackend.send_message = _send_message
    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _is_message_valid_based_on_retention_period
    sqs_models.Queue.delete_message = _delete_message
    sqs_models.generate_receipt_handle = _generate_receipt_handle
    sns_models.Subscription.get_post_data = _get_post_data
    moto_backends.list_of_moto_modules = _moto_modules
    moto_dynamodb.apply()
    _applied = True
