"""Sending through SES (v2 `SendEmail` with raw content, or v1 `SendRawEmail`) and what each error means.

The client has no automatic retries (herald_common.aws.SES_CONFIG): a retried send after a timeout can deliver
twice. Whether to try again is decided here, per error, and carried out by the batch service and the ledger.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from herald_common.metrics import SEND_DURATION
from herald_common.ses import RawEmailSender
from herald_processor.domain import OutgoingEmail, SendOutcome, SendResult

log = structlog.get_logger("herald.processor")

if TYPE_CHECKING:
    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sesv2 import SESV2Client

THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceeded", "LimitExceededException"}
)
PAUSE_CODES = frozenset(
    {
        "SendingPausedException",
        "AccountSuspendedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
    }
)
THROTTLE_MESSAGES = ("maximum sending rate exceeded",)
QUOTA_MESSAGES = ("daily message quota exceeded", "daily sending quota exceeded", "sending quota exceeded")


def classify_error(exc: BaseException) -> SendOutcome:
    """The domain meaning of an exception raised by an SES send call."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        reason = f"{code}: {message}"[:300]
        if any(m in message.lower() for m in QUOTA_MESSAGES):
            return SendOutcome(SendResult.QUOTA, reason=reason)
        if code in THROTTLE_CODES or any(m in message.lower() for m in THROTTLE_MESSAGES):
            return SendOutcome(SendResult.THROTTLED, reason=reason)
        if code in PAUSE_CODES:
            return SendOutcome(SendResult.PAUSE, reason=reason)
        if 400 <= status < 500:
            return SendOutcome(SendResult.FAILED, reason=reason)
        return SendOutcome(SendResult.UNKNOWN, reason=reason)  # 5xx: SES may have accepted it
    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError):
        # The connection was never made, so nothing reached SES: safe to try again later.
        return SendOutcome(SendResult.TRANSIENT, reason=type(exc).__name__)
    if isinstance(exc, ReadTimeoutError | BotoCoreError | TimeoutError | OSError):
        return SendOutcome(SendResult.UNKNOWN, reason=type(exc).__name__)
    raise exc


async def account_send_rate(*, sesv2: SESV2Client | None = None, ses: SESClient | None = None) -> float | None:
    """The account's SES maximum send rate (emails per second) from GetSendQuota / GetAccount; None if unknown or
    unlimited (SES's -1, which is what Herald's emulator answers when it enforces no rate)."""
    rate: float | None = None
    try:
        if sesv2 is not None:
            rate = float((await sesv2.get_account())["SendQuota"]["MaxSendRate"])
        elif ses is not None:
            rate = float((await ses.get_send_quota())["MaxSendRate"])
    except (ClientError, BotoCoreError, KeyError) as exc:
        log.warning("processor.send_quota_unknown", error=str(exc))
    return rate if rate is not None and rate > 0 else None


async def send_quota_used(*, sesv2: SESV2Client | None = None, ses: SESClient | None = None) -> float | None:
    """SentLast24Hours / Max24HourSend from GetAccount (v2) or GetSendQuota (v1); None if the quota is unlimited
    (SES answers -1) or unknown. Errors are the caller's to skip (herald_common.metrics.sample_every)."""
    if sesv2 is not None:
        quota = (await sesv2.get_account())["SendQuota"]
        sent, limit = quota.get("SentLast24Hours"), quota.get("Max24HourSend")
    elif ses is not None:
        answer = await ses.get_send_quota()
        sent, limit = answer.get("SentLast24Hours"), answer.get("Max24HourSend")
    else:
        return None
    if sent is None or limit is None or limit <= 0:
        return None
    return float(sent) / float(limit)


class SesEmailSender:
    """`EmailSender` on SES v2 (`send_email`, `Content.Raw`) or v1 (`send_raw_email`)."""

    def __init__(
        self, configuration_set: str, *, sesv2: SESV2Client | None = None, ses: SESClient | None = None
    ) -> None:
        self._raw = RawEmailSender(configuration_set, sesv2=sesv2, ses=ses)

    async def _call(self, email: OutgoingEmail, tenant_name: str = "") -> str:
        return await self._raw.send(email.destination, email.raw, email.tags, tenant_name=tenant_name)

    async def send(self, email: OutgoingEmail, *, tenant_name: str = "") -> SendOutcome:
        """Send one raw email (under the SES tenant `tenant_name` when given, ses_tenants.py); SES errors come back
        as outcomes, never as exceptions."""
        started = time.perf_counter()
        try:
            message_id = await self._call(email, tenant_name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return classify_error(exc)
        finally:
            SEND_DURATION.observe(time.perf_counter() - started)
        return SendOutcome(SendResult.SENT, message_id=message_id)
