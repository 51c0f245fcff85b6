"""The audit trail: every state-changing API call appends one record to `{prefix}-audit`, written once here.

A service lists the routes it audits (`AuditedRoute`) and installs `AuditTrail`; the middleware sees each answer of
those routes — success or failure — and appends who (the token's `sub`), which tenant, what (`campaign.send`), on
what (the campaign id), when, the request id and the outcome (HTTP status, error code) before the answer leaves.
A route without a bearer token (the public unsubscribe link) names its actor with `audit_as`.

Records are only ever put, with `attribute_not_exists`: no code path updates or deletes one, no route does, and the
deployed roles are granted `PutItem` (and the campaign service `Query`) on the table, nothing else.
Keys: pk `tenantId`, sk `recordId` = `{ISO-8601 time}#{random}`, so a tenant's records read back in time order.

A record can't be skipped. Every field that comes from a caller is bounded (the request id by `request_ids`, the
target, error and actor to 512 characters, the details to 4 KB), so no input makes an item DynamoDB refuses. A record
whose write fails anyway (DynamoDB throttled or down) is not dropped: it waits in the process's spool, a bounded
queue written to the table, in order, before the next record and every few seconds, so it reaches `GET /audit` once
DynamoDB answers. While the spool is full, audited routes answer 503 `AuditUnavailable` *before* they run: no state
changes without its record. The log gets a bounded summary of a failed write, never the whole record.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.errors import error_body
from herald_common.request_ids import accept_request_id

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger("herald.audit")

# An audited answer is held back until its record is written; bodies bigger than this are not parsed for fields.
_MAX_PARSED_BODY = 256 * 1024
# Caller-influenced text in a record: far under DynamoDB's 400 KB item limit however the fields combine.
_MAX_TEXT = 512
_MAX_DETAILS = 4096
# Records kept while DynamoDB refuses them (per process); full, audited routes answer 503 until it drains.
DEFAULT_SPOOL_SIZE = 1000


@dataclass(frozen=True)
class AuditRecord:
    tenant_id: str
    actor: str
    action: str
    target: str | None
    request_id: str | None
    outcome: str  # "succeeded" | "failed"
    status: int
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    record_id: str = ""

    def __post_init__(self) -> None:
        if not self.record_id:  # fixed once, so a retried put can tell its own earlier write from another record
            object.__setattr__(self, "record_id", f"{self.time}#{secrets.token_hex(8)}")

    def key(self) -> str:
        return self.record_id

    def item(self) -> dict[str, Any]:
        """The DynamoDB item; every caller-influenced field bounded, so the item always fits."""
        item: dict[str, Any] = {
            "tenantId": {"S": self.tenant_id},
            "recordId": {"S": self.key()},
            "time": {"S": self.time},
            "actor": {"S": self.actor[:_MAX_TEXT]},
            "action": {"S": self.action},
            "outcome": {"S": self.outcome},
            "status": {"N": str(self.status)},
        }
        for name, value in (("target", self.target), ("requestId", self.request_id), ("error", self.error)):
            if value:
                item[name] = {"S": value[:_MAX_TEXT]}
        if self.details:
            details = json.dumps(self.details, separators=(",", ":"), default=str)
            item["details"] = {"S": details if len(details) <= _MAX_DETAILS else '{"truncated":true}'}
        return item


@dataclass(frozen=True)
class AuditActor:
    """Who acts when there is no token: set on the request by the route (`audit_as`)."""

    tenant_id: str
    actor: str
    target: str | None = None


def audit_as(request: Request, *, tenant_id: str, actor: str, target: str | None = None) -> None:
    """Name the tenant, actor and target of a call made without a bearer token (e.g. an unsubscribe link)."""
    request.state.audit_actor = AuditActor(tenant_id, actor, target)


class AuditLog:
    """Appends audit records to the DynamoDB table, spooling the ones it cannot write yet. One per process, on the
    app's long-lived client; `run` (a lifespan task) retries the spool every `flush_interval` seconds."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        spool_size: int = DEFAULT_SPOOL_SIZE,
        flush_interval: float = 5.0,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._spool: deque[AuditRecord] = deque()
        self._spool_size = spool_size
        self._flush_interval = flush_interval
        self._lock = asyncio.Lock()  # one writer at a time keeps the spool in order

    @property
    def pending(self) -> int:
        """Records waiting in the spool."""
        return len(self._spool)

    @property
    def accepting(self) -> bool:
        """False while the spool is full: audited routes must not run, their record would have nowhere to go."""
        return len(self._spool) < self._spool_size

    async def append(self, record: AuditRecord) -> bool:
        """Write the record (after any spooled ones, so the table keeps their order); False when it was spooled."""
        async with self._lock:
            if await self._flush_locked() and await self._put(record):
                return True
            # Kept even past `spool_size`: the call already happened. The spool stays bounded because `AuditTrail`
            # admits no audited call while it is full, so it can only pass the size by the calls already running.
            self._spool.append(record)
            return False

    async def flush(self) -> int:
        """Write what the spool holds, oldest first, until a write fails; the records still waiting."""
        async with self._lock:
            await self._flush_locked()
            return len(self._spool)

    async def run(self) -> None:
        """Retry the spool every `flush_interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._flush_interval)
            if self._spool:
                await self.flush()

    async def _flush_locked(self) -> bool:
        while self._spool:
            if not await self._put(self._spool[0]):
                return False
            self._spool.popleft()
        return True

    async def _put(self, record: AuditRecord) -> bool:
        try:
            await self._db.put_item(
                TableName=self._table, Item=record.item(), ConditionExpression="attribute_not_exists(recordId)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return True  # an earlier attempt wrote it and lost the answer: the record is there
            self._failed(record, exc)
            return False
        except BotoCoreError as exc:
            self._failed(record, exc)
            return False
        return True

    def _failed(self, record: AuditRecord, exc: Exception) -> None:
        # A bounded summary: the record itself waits in the spool, and a log line must not carry caller input in bulk.
        log.error(
            "audit.write_failed",
            error=str(exc)[:300],
            action=record.action,
            tenantId=record.tenant_id,
            target=(record.target or "")[:128],
            status=record.status,
            spooled=len(self._spool),
        )


@dataclass(frozen=True)
class AuditedRoute:
    """One audited route: the FastAPI path template (`/campaigns/{campaign_id}/send`), the action recorded, and
    where the target comes from: a path parameter, else a field of the JSON answer (e.g. a new `campaignId`).
    `details` names answer fields copied into the record (e.g. the template `version` a save made)."""

    method: str
    path: str
    action: str
    target_param: str | None = None
    target_field: str | None = None
    details: tuple[str, ...] = ()


class AuditTrail:
    """Pure ASGI middleware appending a record for every answer of an audited route. The `AuditLog` is the app's
    (`app.state.audit_log`, set in the lifespan)."""

    def __init__(self, app: ASGIApp, routes: Sequence[AuditedRoute]) -> None:
        self.app = app
        self._routes = {(r.method.upper(), r.path): r for r in routes}
        # The route is known only once the router ran; whether a request *will* be audited is read from its path.
        self._patterns = [(r.method.upper(), re.compile(_PARAM.sub("[^/]+", r.path) + "$")) for r in routes]

    def _audited_path(self, method: str, path: str) -> bool:
        return any(m == method and pattern.match(path) for m, pattern in self._patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        audit_log: AuditLog | None = getattr(scope["app"].state, "audit_log", None)
        if audit_log is not None and not audit_log.accepting and self._audited_path(scope["method"], scope["path"]):
            # Its record would have nowhere to go: refuse before anything changes.
            log.error("audit.refused_unrecorded", method=scope["method"], path=scope["path"][:256])
            await _answer_unavailable(send)
            return
        held: list[Message] = []
        audited: AuditedRoute | None = None

        async def holding_send(message: Message) -> None:
            nonlocal audited
            if message["type"] == "http.response.start":
                route = scope.get("route")
                audited = self._routes.get((scope["method"], getattr(route, "path", "")))
            if audited is None:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._record(scope, audited, held)
                for kept in held:
                    await send(kept)
                held.clear()

        try:
            await self.app(scope, receive, holding_send)
        except Exception:
            # An unexpected fault: the 500 is answered further out, but the attempt is recorded here.
            route = self._routes.get((scope["method"], getattr(scope.get("route"), "path", "")))
            if route is not None and not held:
                state = scope.get("state") or {}
                request_id = state.get("request_id") or accept_request_id(None)
                fault = {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"x-request-id", request_id.encode())],
                }
                await self._record(scope, route, [fault])
            raise

    async def _record(self, scope: Scope, route: AuditedRoute, messages: list[Message]) -> None:
        start = messages[0]
        status = int(start["status"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
        body = b"".join(m.get("body", b"") for m in messages[1:])
        answer = _json(body, headers.get("content-type", ""))
        state = scope.get("state") or {}
        named: AuditActor | None = state.get("audit_actor")
        principal = state.get("principal")
        if named is not None:
            tenant, actor, target = named.tenant_id, named.actor, named.target
        elif principal is not None:
            tenant, actor, target = principal.tenant_id, principal.subject, None
        else:
            # No verified caller (a 401, a forged unsubscribe link): there is no tenant to file it under.
            log.info("audit.unattributed", action=route.action, status=status, path=str(scope.get("path"))[:256])
            return
        params = scope.get("path_params") or {}
        if target is None and route.target_param:
            target = _text(params.get(route.target_param) or None)
        if target is None and route.target_field and isinstance(answer, dict):
            target = _text(answer.get(route.target_field))
        failed = status >= 400
        record = AuditRecord(
            tenant_id=tenant,
            actor=actor,
            action=route.action,
            target=target,
            request_id=headers.get("x-request-id"),
            outcome="failed" if failed else "succeeded",
            status=status,
            error=_text(answer.get("error")) if failed and isinstance(answer, dict) else None,
            details={k: answer[k] for k in route.details if k in answer} if isinstance(answer, dict) else {},
        )
        audit_log: AuditLog | None = getattr(scope["app"].state, "audit_log", None)
        if audit_log is None:
            log.error("audit.no_log", action=record.action, tenantId=record.tenant_id, status=record.status)
            return
        await audit_log.append(record)


_PARAM = re.compile(r"\{[^}]+\}")


async def _answer_unavailable(send: Send) -> None:
    body = json.dumps(
        error_body("AuditUnavailable", "The audit log cannot be written right now; nothing was changed. Try again.")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"5"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json(body: bytes, content_type: str) -> Any:
    if "json" not in content_type or not body or len(body) > _MAX_PARSED_BODY:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:_MAX_TEXT]
