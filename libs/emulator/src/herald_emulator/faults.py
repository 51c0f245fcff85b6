"""Fault injection: for SES sends, throttling, a maximum send rate, latency, internal errors, lost answers (sent,
then answered 500) and late events (an SNS backlog); for DynamoDB calls, internal errors and unavailability. Each is
answered with the exact status, headers and bodies AWS uses, so botocore raises (and retries) exactly as in
production.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

# What AWS answers (SES v1: query protocol, XML; SES v2: REST-JSON with the code in `x-amzn-ErrorType`).
V1_THROTTLE_CODE = "Throttling"
V1_THROTTLE_MESSAGE = "Maximum sending rate exceeded."
V2_THROTTLE_CODE = "TooManyRequestsException"
INTERNAL_CODE = "InternalFailure"
# DynamoDB (JSON 1.0 protocol): the code is the part of `__type` after "#"; both are retryable for botocore (5xx).
DYNAMODB_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
DYNAMODB_FAULTS = (
    ("500 Internal Server Error", "InternalServerError", "Internal server error"),
    ("503 Service Unavailable", "ServiceUnavailable", "The service is currently unavailable or busy."),
)
PROBABILITIES = ("sesThrottleRate", "sesErrorRate", "sesLostAnswerRate", "dynamodbErrorRate")
# SES v2 GetAccount's `EnforcementStatus` values.
ENFORCEMENT_STATUSES = ("HEALTHY", "PROBATION", "SHUTDOWN")
# Per recipient domain: the share of accepted messages answered by a DeliveryDelay event (then a Delivery), and the
# share answered by a Transient bounce, as a mailbox provider pushing back would.
DOMAIN_FAULTS = ("deliveryDelayRate", "transientBounceRate")


@dataclass
class Faults:
    """The fault settings of `PUT /_emulator/faults` (camelCase on the wire). None means off."""

    sesThrottleRate: float | None = None
    sesMaxSendRate: float | None = None
    sesLatencyMs: float | None = None
    sesErrorRate: float | None = None
    sesLostAnswerRate: float | None = None  # SES sends the message, then the answer is a 500
    dynamodbErrorRate: float | None = None  # share of DynamoDB calls answered 500 or 503 without being run
    domainFaults: dict[str, dict[str, float]] | None = None  # recipient domain -> {deliveryDelayRate, …}
    accountEnforcementStatus: str | None = None  # GetAccount's EnforcementStatus (HEALTHY when unset)
    sesEventDelayMs: float | None = None  # every SES event (Send too) of a message accepted now is published this late
    # SES's daily quota (Max24HourSend), reported and enforced: a send once SentLast24Hours reached it is refused with
    # SES's "Daily message quota exceeded". Unset: no daily quota (reported as SES's unlimited, -1).
    sesMax24HourSend: float | None = None
    sesTenantStatus: dict[str, str] | None = None  # SES tenant name -> its SendingStatus (ses_tenants.py)
    # The random rolls behind the rates above start again from this seed, so a test that prints its seed can replay
    # which calls fail (as far as the calls come in the same order). Unset: the sequence goes on unseeded.
    seed: int | None = None

    @classmethod
    def parse(cls, payload: Any) -> Faults:
        """Validate a request body; raises ValueError naming the bad field."""
        if not isinstance(payload, dict):
            raise ValueError("body must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, value in payload.items():
            if value is None:
                values[name] = None
                continue
            if name == "domainFaults":
                values[name] = _domain_faults(value)
                continue
            if name == "sesTenantStatus":
                values[name] = _tenant_statuses(value)
                continue
            if name == "seed":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("seed must be a non-negative integer")
                values[name] = value
                continue
            if name == "accountEnforcementStatus":
                if value not in ENFORCEMENT_STATUSES:
                    raise ValueError(f"accountEnforcementStatus is one of {', '.join(ENFORCEMENT_STATUSES)}")
                values[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            if name in PROBABILITIES and value > 1:
                raise ValueError(f"{name} is a probability between 0 and 1")
            values[name] = float(value)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _domain_faults(value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise ValueError("domainFaults must be an object of recipient domain -> faults")
    parsed: dict[str, dict[str, float]] = {}
    for domain, faults in value.items():
        if not isinstance(faults, dict) or set(faults) - set(DOMAIN_FAULTS):
            raise ValueError(f"domainFaults.{domain} takes {', '.join(DOMAIN_FAULTS)}")
        for name, rate in faults.items():
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError(f"domainFaults.{domain}.{name} is a probability between 0 and 1")
        parsed[str(domain).lower()] = {name: float(rate) for name, rate in faults.items()}
    return parsed


def _tenant_statuses(value: Any) -> dict[str, str]:
    statuses = ("ENABLED", "REINSTATED", "DISABLED")
    if not isinstance(value, dict) or not all(isinstance(v, str) and v in statuses for v in value.values()):
        raise ValueError(f"sesTenantStatus must be an object of SES tenant name -> one of {', '.join(statuses)}")
    return {str(name): status for name, status in value.items()}


class SendRateBucket:
    """A token bucket over accepted sends per second (SES's maximum send rate); burst = one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class FaultResponse:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


class FaultInjector:
    """Decides, per SES send and per DynamoDB call, whether to answer with a fault. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._bucket: SendRateBucket | None = None
        self._random = random.Random()

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def replace(self, faults: Faults) -> Faults:
        with self._lock:
            self._faults = faults
            if faults.seed is not None:
                self._random = random.Random(faults.seed)
            rate = self._faults.sesMaxSendRate
            if rate is None or rate <= 0:
                self._bucket = None
            elif self._bucket is None or self._bucket.rate != rate:
                self._bucket = SendRateBucket(rate)
            return self._faults

    def clear(self) -> None:
        with self._lock:
            self._faults = Faults()
            self._bucket = None

    def check(self, api: str) -> FaultResponse | None:
        """Sleep for the configured latency, then the fault to answer (None: let the send through)."""
        faults = self.faults
        if faults.sesLatencyMs:
            time.sleep(faults.sesLatencyMs / 1000)
        with self._lock:
            roll_error, roll_throttle = self._random.random(), self._random.random()
            bucket = self._bucket
        if faults.sesErrorRate and roll_error < faults.sesErrorRate:
            return internal_error(api)
        if faults.sesThrottleRate and roll_throttle < faults.sesThrottleRate:
            return throttled(api)
        if bucket is not None and not bucket.take():
            return throttled(api)
        return None

    def recipient_outcome(self, address: str) -> str | None:
        """`delay` or `transient_bounce` when the recipient's domain fault picks one for this message, else None."""
        domain_faults = self.faults.domainFaults
        if not domain_faults:
            return None
        faults = domain_faults.get(address.rpartition("@")[2].lower())
        if not faults:
            return None
        roll = self._roll()
        delay = faults.get("deliveryDelayRate", 0.0)
        if roll < delay:
            return "delay"
        if roll < delay + faults.get("transientBounceRate", 0.0):
            return "transient_bounce"
        return None

    def lose_answer(self) -> bool:
        """Whether the answer to a send SES just accepted is lost (the client gets a 500 instead)."""
        rate = self.faults.sesLostAnswerRate
        return rate is not None and rate > 0 and self._roll() < rate

    def check_dynamodb(self) -> FaultResponse | None:
        """The fault a DynamoDB call answers with instead of running (None: let it through)."""
        rate = self.faults.dynamodbErrorRate
        if not rate or self._roll() >= rate:
            return None
        with self._lock:
            status, code, message = self._random.choice(DYNAMODB_FAULTS)
        return dynamodb_error(status, code, message)

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()


def dynamodb_error(status: str, code: str, message: str) -> FaultResponse:
    """A DynamoDB error answer, in its JSON 1.0 shape."""
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    body = json.dumps({"__type": DYNAMODB_ERROR_PREFIX + code, "message": message}).encode()
    return FaultResponse(status, headers, body)


def v1_error(status: str, error_type: str, code: str, message: str) -> FaultResponse:
    """An SES v1 (query protocol) error answer."""
    body = (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
        f"<Error><Type>{error_type}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return FaultResponse(status, [("Content-Type", "text/xml")], body)


def v2_error(status: str, code: str, message: str) -> FaultResponse:
    """An SES v2 (REST-JSON) error answer."""
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", code),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    return FaultResponse(status, headers, json.dumps({"message": message}).encode())


def daily_quota_exceeded(api: str) -> FaultResponse:
    """SES's answer to a send past the account's daily quota (the processor pauses the campaign for it)."""
    message = "Daily message quota exceeded."
    if api == "v1":
        return v1_error("400 Bad Request", "Sender", V1_THROTTLE_CODE, message)
    return v2_error("400 Bad Request", "LimitExceededException", message)


def throttled(api: str) -> FaultResponse:
    if api == "v1":
        return v1_error("400 Bad Request", "Sender", V1_THROTTLE_CODE, V1_THROTTLE_MESSAGE)
    return v2_error("429 Too Many Requests", V2_THROTTLE_CODE, V1_THROTTLE_MESSAGE)


def internal_error(api: str) -> FaultResponse:
    message = "An internal error occurred. Try again later."
    if api == "v1":
        return v1_error("500 Internal Server Error", "Receiver", INTERNAL_CODE, message)
    return v2_error("500 Internal Server Error", INTERNAL_CODE, message)
