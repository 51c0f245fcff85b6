"""Recipient intake rules: which addresses are valid, how they are normalised and de-duplicated. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email

# Personalisation data per recipient, JSON-encoded. Bounded so a full batch (Settings.batch_size ≤ 100) always fits
# one SQS message (256 KiB): 100 × (2 KiB + a 254-character address + framing) < 256 KiB.
MAX_RECIPIENT_DATA_BYTES = 2048


@dataclass(frozen=True)
class Recipient:
    email: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"email": self.email, "data": self.data}


def normalise_address(raw: str) -> str | None:
    """The address as email-validator normalises it (domain lowercased, no DNS), or None when it is not valid.

    SMTPUTF8 (non-ASCII local parts) is refused: SES does not accept it.
    """
    try:
        return validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False).normalized
    except (EmailNotValidError, UnicodeError):
        return None


def address_key(normalised: str) -> str:
    """The de-duplication, ledger and suppression key: the normalised address lowercased."""
    return normalised.lower()


def suppression_key(raw: str) -> str:
    """The suppression-list key of any address, valid or not (an invalid one is only lowercased)."""
    normalised = normalise_address(raw)
    return address_key(normalised) if normalised is not None else raw.strip().lower()


@dataclass
class IntakeCounts:
    accepted: int = 0
    invalid: int = 0
    duplicates: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.invalid + self.duplicates

    def as_response(self) -> dict[str, int]:
        return {"accepted": self.accepted, "invalid": self.invalid, "duplicates": self.duplicates, "total": self.total}


def _as_recipient(item: object) -> Recipient | None:
    """An item of a recipients list (an object `{email, data?}` or a bare address string) with a valid address."""
    data: dict[str, Any] = {}
    if isinstance(item, str):
        email = item
    elif isinstance(item, dict) and isinstance(item.get("email"), str):
        email, data = item["email"], item.get("data") or {}
        if not isinstance(data, dict):
            return None
        if len(json.dumps(data, separators=(",", ":"))) > MAX_RECIPIENT_DATA_BYTES:
            return None
    else:
        return None
    normalised = normalise_address(email)
    return Recipient(normalised, data) if normalised is not None else None


class RecipientFilter:
    """Admits valid addresses not seen before (in `seen`, or earlier in this intake), counting what it refuses.

    `seen` holds one key per address: for a campaign it is loaded from the campaign's stored parts, so memory grows
    with the campaign's list (about 100 bytes an address).
    """

    def __init__(self, seen: set[str] | None = None) -> None:
        self.seen: set[str] = seen if seen is not None else set()
        self.counts = IntakeCounts()

    def admit(self, item: object) -> Recipient | None:
        recipient = _as_recipient(item)
        if recipient is None:
            self.counts.invalid += 1
            return None
        key = address_key(recipient.email)
        if key in self.seen:
            self.counts.duplicates += 1
            return None
        self.seen.add(key)
        self.counts.accepted += 1
        return recipient
