"""What a request with an `Idempotency-Key` gets, as a pure function of the stored record (after Powertools'
idempotency utility: a record is `in_progress` under a lease, or `completed` with the answer and the request's
fingerprint; a record past its expiry counts as absent even before DynamoDB's TTL removes it)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII without spaces, as Stripe and the IETF draft
RECORD_TTL_SECONDS = 24 * 3600
# How long a first request may run before another may take its key over (the process died). A recipients upload
# of the largest allowed list takes about a minute on the dev stack.
LEASE_SECONDS = 300
# Answers worth replaying: what the request itself earned. 401/403 judge the caller, 429 the load, 5xx a fault, so
# the next try with the same key runs again.
_NOT_KEPT = frozenset({401, 403, 429})
# The answers of these routes are small JSON documents; anything bigger is not kept.
MAX_KEPT_BODY = 64 * 1024


class RecordState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class IdempotencyRecord:
    state: RecordState
    expires_at: int  # epoch s: the record's TTL
    lease_until: int = 0  # epoch s, while in progress
    owner: str = ""
    fingerprint: str = ""
    answer: StoredAnswer | None = None


class Verdict(StrEnum):
    CLAIM = "claim"  # no live record: run the request under a new claim
    REPLAY = "replay"  # the same request was answered: send that answer again
    REUSED = "reused"  # the key was used for another request: 422
    IN_PROGRESS = "in_progress"  # the first request is running: wait for it, else 409
    ABANDONED = "abandoned"  # its runner's lease ran out: clear the claim, the next try runs the request


def fingerprint(method: str, path: str, body_digest: str) -> str:
    """What makes two requests "the same": method, path and the exact body."""
    return hashlib.sha256(f"{method} {path} {body_digest}".encode()).hexdigest()


def judge(record: IdempotencyRecord | None, request_fingerprint: str | None, now: int) -> Verdict:
    """The verdict for a request (its fingerprint None while its body is not read yet)."""
    if record is None or record.expires_at <= now:
        return Verdict.CLAIM
    if record.state is RecordState.IN_PROGRESS:
        return Verdict.ABANDONED if record.lease_until <= now else Verdict.IN_PROGRESS
    return Verdict.REPLAY if record.fingerprint == request_fingerprint else Verdict.REUSED


def worth_keeping(status: int, body: bytes) -> bool:
    return status < 500 and status not in _NOT_KEPT and len(body) <= MAX_KEPT_BODY
