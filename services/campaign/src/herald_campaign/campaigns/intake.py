"""Recipient intake rules: which addresses are valid, how they are normalised and de-duplicated. Pure."""

from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email

from herald_common.headers import ENCODED_WORD

if TYPE_CHECKING:
    from collections.abc import Iterable

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

    SMTPUTF8 (non-ASCII local parts) is refused: SES does not accept it. So is an RFC 2047 encoded word in the
    address (`=?utf-8?q?a=0D=0Ab?=@example.com` is valid atext): the `email` parser decodes it where it parses an
    address, and no real mailbox is named like that.
    """
    if ENCODED_WORD.search(raw):
        return None
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


class AddressSet:
    """A set of address keys in 8 to 16 bytes each, for de-duplicating lists of millions of addresses.

    Each key is kept as a 64-bit BLAKE2b digest in an open-addressing table (linear probing) on an `array('Q')`,
    instead of a `set[str]` (about 110 bytes an address: 1,000,000 addresses would take the service past its
    200 MB budget). Two different addresses share a digest with probability about n²/2⁶⁵ (3·10⁻⁸ for a million):
    the second would be counted as a duplicate.
    """

    _MIN_CAPACITY = 1024

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._slots = array("Q", bytes(8 * self._MIN_CAPACITY))
        self._mask = self._MIN_CAPACITY - 1
        self._size = 0
        for key in keys:
            self.add(key)

    @staticmethod
    def _digest(key: str) -> int:
        value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
        return value or 1  # 0 marks an empty slot

    def _find(self, digest: int) -> int:
        """The slot holding `digest`, or the empty slot where it would go."""
        slots, mask = self._slots, self._mask
        i = digest & mask
        while True:
            current = slots[i]
            if current == 0 or current == digest:
                return i
            i = (i + 1) & mask

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._slots[self._find(self._digest(key))] != 0

    def add(self, key: str) -> None:
        digest = self._digest(key)
        i = self._find(digest)
        if self._slots[i] == 0:
            self._slots[i] = digest
            self._size += 1
            if self._size * 2 > len(self._slots):  # at most half full: short probes
                self._grow()

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(8 * len(old) * 2))
        self._mask = len(self._slots) - 1
        for digest in old:
            if digest:
                self._slots[self._find(digest)] = digest

    def __len__(self) -> int:
        return self._size


class RecipientFilter:
    """Admits valid addresses not seen before (in `seen`, or earlier in this intake), counting what it refuses.

    `seen` holds one digest per address (AddressSet): for a campaign it is loaded from the campaign's stored parts,
    so memory grows with the campaign's list, by 8 to 16 bytes an address.
    """

    def __init__(self, seen: AddressSet | None = None) -> None:
        self.seen = seen if seen is not None else AddressSet()
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


def invalid_row(position: int, item: object) -> dict[str, Any]:
    """What the invalid-rows download says of a refused item: its 1-based position in the upload, the address as
    given, why it was refused, and its data."""
    email = item if isinstance(item, str) else item.get("email") if isinstance(item, dict) else None
    data = item.get("data") if isinstance(item, dict) else None
    if not isinstance(email, str):
        reason = "missing_email"
    elif data is not None and not isinstance(data, dict):
        reason = "invalid_data"
    elif data and len(json.dumps(data, separators=(",", ":"))) > MAX_RECIPIENT_DATA_BYTES:
        reason = "data_too_large"
    else:
        reason = "invalid_address"
    row: dict[str, Any] = {"row": position, "email": email if isinstance(email, str) else None, "reason": reason}
    if data:
        row["data"] = data
    return row
