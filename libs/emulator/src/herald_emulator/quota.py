"""The account's sending quota as SES reports it: v2 GetAccount (`SendQuota`) and v1 GetSendQuota.

Clients pace themselves by `MaxSendRate` (Herald's processor does, on AWS and on the emulator alike), so it is the
rate the emulator enforces: the `sesMaxSendRate` fault. With no such fault the emulator enforces no rate, and says
so with -1, the value SES gives an unlimited quota (moto reports a fixed 1 email/s it never enforces, and has no
GetAccount at all: 404). The daily quota is the `sesMax24HourSend` fault, enforced (moto reports 200 a day it never
enforces, which would make a client pace a campaign to 200 a day): unset, it is -1 too. The count sent is the
recipients of every message the emulator accepted since the last reset, the same for both APIs.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs

from herald_emulator.faults import FaultResponse

V2_ACCOUNT_PATH = "/v2/email/account"
V1_QUOTA_ACTION = "GetSendQuota"
UNLIMITED = -1.0  # SES's value for a quota without limit


@dataclass(frozen=True)
class SendQuota:
    max_24_hour_send: float
    max_send_rate: float
    sent_last_24_hours: float


def v1_action(body: bytes) -> str:
    """The `Action` of an SES v1 (query protocol) form post; "" when there is none."""
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def v2_account(quota: SendQuota, enforcement_status: str = "HEALTHY") -> FaultResponse:
    """SES v2 GetAccount's answer (REST-JSON) for a production account; `enforcement_status` is the
    `accountEnforcementStatus` fault (SES sets PROBATION or SHUTDOWN when the account's reputation is at risk)."""
    payload = {
        "DedicatedIpAutoWarmupEnabled": False,
        "EnforcementStatus": enforcement_status,
        "ProductionAccessEnabled": True,
        "SendQuota": {
            "Max24HourSend": quota.max_24_hour_send,
            "MaxSendRate": quota.max_send_rate,
            "SentLast24Hours": quota.sent_last_24_hours,
        },
        "SendingEnabled": enforcement_status != "SHUTDOWN",
    }
    body = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return FaultResponse("200 OK", headers, body)


def v1_send_quota(quota: SendQuota) -> FaultResponse:
    """SES v1 GetSendQuota's answer (query protocol, XML)."""
    body = (
        '<GetSendQuotaResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><GetSendQuotaResult>'
        f"<Max24HourSend>{quota.max_24_hour_send}</Max24HourSend>"
        f"<MaxSendRate>{quota.max_send_rate}</MaxSendRate>"
        f"<SentLast24Hours>{quota.sent_last_24_hours}</SentLast24Hours>"
        f"</GetSendQuotaResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</GetSendQuotaResponse>"
    ).encode()
    return FaultResponse("200 OK", [("Content-Type", "text/xml")], body)
