"""Unsubscribe tokens: an HMAC over tenant, campaign and recipient, checked in constant time.

The processor makes them (for `List-Unsubscribe` and `unsubscribe_url`); the campaign service verifies them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class UnsubscribeTarget:
    tenant_id: str
    campaign_id: str
    email: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, target: UnsubscribeTarget) -> str:
    payload = json.dumps([target.tenant_id, target.campaign_id, target.email], separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_token(secret: str, token: str) -> UnsubscribeTarget | None:
    """The target of a genuine token, or None for a forged, altered or malformed one."""
    try:
        body, mac = token.split(".", 1)
        payload = _unb64(body)
        expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        tenant, campaign, email = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if not all(isinstance(v, str) for v in (tenant, campaign, email)):
        return None
    return UnsubscribeTarget(tenant, campaign, email)
