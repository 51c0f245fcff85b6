"""`IdempotencyKeys`: pure ASGI middleware giving the campaign service's creating POST routes `Idempotency-Key`.

A request with the header on one of those routes, from an authenticated caller, is run at most once per tenant and
key within 24 h: the first claims the key (a conditional put), runs with its body hashed as it streams in, and keeps
its answer with the body's fingerprint; a later one with the same body gets that answer again (status and body,
`Idempotent-Replayed: true`), with another body 422 `IdempotencyKeyReused`. One that arrives while the first runs
waits for it a moment, then gets 409 `IdempotencyKeyInProgress`: it never runs a second time. A request without the
header, or whose token does not verify (the route answers 401), passes through untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from typing import TYPE_CHECKING

import structlog

from herald_campaign.idempotency.rules import (
    KEY_PATTERN,
    LEASE_SECONDS,
    RECORD_TTL_SECONDS,
    StoredAnswer,
    Verdict,
    fingerprint,
    judge,
    worth_keeping,
)
from herald_common.errors import HeraldError

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from herald_campaign.idempotency.store import IdempotencyStore
    from herald_common.auth import Authenticator

log = structlog.get_logger("herald.campaign")

HEADER = b"idempotency-key"
IDEMPOTENT_ROUTES = (
    re.compile(r"^/campaigns$"),
    re.compile(r"^/campaigns/[^/]+/recipients$"),
    re.compile(r"^/campaigns/[^/]+/send$"),
    re.compile(r"^/webhooks$"),
)
WAIT_SECONDS = 2.0  # a concurrent duplicate waits this long for the first answer before its 409
POLL_SECONDS = 0.1
PREFETCH_BYTES = 1024 * 1024  # bodies up to this size are read before the route runs (module `_HashingReceive`)


class IdempotencyError(HeraldError):
    pass


class InvalidIdempotencyKey(IdempotencyError):
    status_code = 400
    code = "InvalidIdempotencyKey"


class IdempotencyKeyReused(IdempotencyError):
    status_code = 422
    code = "IdempotencyKeyReused"


class RequestTooLarge(IdempotencyError):
    status_code = 413
    code = "PayloadTooLarge"


class IdempotencyKeyInProgress(IdempotencyError):
    status_code = 409
    code = "IdempotencyKeyInProgress"


async def _respond(send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, error: IdempotencyError, retry_after: int | None = None) -> None:
    body = json.dumps({"error": error.code, "detail": error.detail}).encode()
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after else []
    await _respond(send, error.status_code, body, "application/json", extra)


class _HashingReceive:
    """The request's `receive`, hashing the body as the app reads it. A body of known, small size is read first
    (`prefetch`), so its digest is known even when the route never reads it (`POST …/send` with no body)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._buffered: list[Message] = []
        self.digest = hashlib.sha256()
        self.complete = False

    async def prefetch(self, headers: dict[bytes, bytes]) -> None:
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return
        length = headers.get(b"content-length")
        if length is None:  # HTTP/1.1: no length and not chunked is an empty body
            self.complete = True
            return
        if length.isdigit() and int(length) <= PREFETCH_BYTES:
            while not self.complete:
                message = await self._next()
                self._buffered.append(message)
                if message["type"] != "http.request":
                    break

    async def _next(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.digest.update(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        return message

    async def __call__(self) -> Message:
        if self._buffered:
            return self._buffered.pop(0)
        if self.complete:  # after the body: the server's disconnect notice, as it comes
            return await self._receive()
        return await self._next()

    async def drain(self, max_bytes: int) -> str | None:
        """Read the whole body (for a request that will not run) and answer its digest; None on a disconnect or
        past `max_bytes` (the service's body limit, which runs further in)."""
        size = 0
        while not self.complete:
            message = await self._next()
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or size > max_bytes:
                return None
        return self.digest.hexdigest()


class IdempotencyKeys:
    """The middleware (module docstring). The store is the app's (`app.state.idempotency_store`, the lifespan's)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self._max_body = max_body_bytes
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers") or []).get(HEADER) if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST" or not any(r.match(scope["path"]) for r in IDEMPOTENT_ROUTES):
            await self.app(scope, receive, send)
            return
        text = key.decode("latin-1")
        if not KEY_PATTERN.match(text):
            await _error(send, InvalidIdempotencyKey("Idempotency-Key must be 1 to 255 printable ASCII characters."))
            return
        tenant = await self._tenant(scope)
        if tenant is None:  # the route answers 401 itself
            await self.app(scope, receive, send)
            return
        store: IdempotencyStore = scope["app"].state.idempotency_store
        await self._handle(store, tenant, text, scope, receive, send)

    @staticmethod
    async def _tenant(scope: Scope) -> str | None:
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        authenticator: Authenticator = scope["app"].state.authenticator
        try:
            return (await authenticator.authenticate_token(token.strip())).tenant_id
        except HeraldError:
            return None

    async def _handle(
        self, store: IdempotencyStore, tenant: str, key: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        now = int(self._clock())
        record = await store.get(tenant, key)
        if judge(record, None, now) is Verdict.CLAIM:
            owner = secrets.token_hex(8)
            if await store.claim(tenant, key, owner, now, now + LEASE_SECONDS, now + RECORD_TTL_SECONDS):
                await self._run(store, tenant, key, owner, scope, receive, send)
                return
        # Someone holds or held the key: this request's body decides between a replay and a reuse.
        digest = await _HashingReceive(receive).drain(self._max_body)
        if digest is None:  # the client went away, or sent more than any route takes
            await _error(send, RequestTooLarge("The request body is larger than any route of this service takes."))
            return
        request_fingerprint = fingerprint(scope["method"], scope["path"], digest)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            record = await store.get(tenant, key)
            verdict = judge(record, request_fingerprint, int(self._clock()))
            if verdict is not Verdict.IN_PROGRESS or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_SECONDS)
        context = {"tenantId": tenant, "path": scope["path"], "verdict": verdict.value}
        log.info("campaign.idempotency_key_seen", **context)
        if verdict is Verdict.REPLAY and record is not None and record.answer is not None:
            answer = record.answer
            await _respond(send, answer.status, answer.body, answer.content_type, [(b"idempotent-replayed", b"true")])
        elif verdict is Verdict.REUSED:
            await _error(send, IdempotencyKeyReused("This Idempotency-Key was used with another request."))
        else:
            if verdict is Verdict.ABANDONED and record is not None:
                await store.release(tenant, key, lease_until=record.lease_until)  # the next try runs the request
            elif verdict is Verdict.CLAIM:
                pass  # the first run gave its claim back (a fault) meanwhile: the next try runs the request
            detail = "A request with this Idempotency-Key is in progress; try again shortly."
            await _error(send, IdempotencyKeyInProgress(detail), retry_after=1)

    async def _run(
        self, store: IdempotencyStore, tenant: str, key: str, owner: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        hashing = _HashingReceive(receive)
        await hashing.prefetch(dict(scope["headers"]))
        start: Message | None = None
        chunks: list[bytes] = []

        async def keeping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, hashing, keeping_send)
        except BaseException:
            await store.release(tenant, key, owner=owner)
            raise
        body = b"".join(chunks)
        status = int(start["status"]) if start is not None else 500
        if not hashing.complete or not worth_keeping(status, body):
            # Not a replayable answer (a fault, a refusal of the caller, a body not read): the next try runs again.
            await store.release(tenant, key, owner=owner)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in (start or {}).get("headers", [])}
        answer = StoredAnswer(status, body, headers.get("content-type", "application/json"))
        request_fingerprint = fingerprint(scope["method"], scope["path"], hashing.digest.hexdigest())
        now = int(self._clock())
        await store.complete(tenant, key, owner, request_fingerprint, answer, now + RECORD_TTL_SECONDS)
