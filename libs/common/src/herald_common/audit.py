"""The audit trail: every state-changing API call appends one record to `{prefix}-audit`, written once here.

A service lists the routes it audits (`AuditedRoute`) and installs `AuditTrail`; the middleware sees each answer of
those routes — success or failure — and appends who (the token's `sub`), which tenant, what (`campaign.send`), on
what (the campaign id), when, the request id and the outcome (HTTP status, error code) before the answer leaves.
A route without a bearer token (the public unsubscribe link) names its actor with `audit_as`.

Records are only ever put, with `attribute_not_exists`: no code path updates or deletes one, no route does, and the
deployed roles are granted `PutItem` (and the campaign service `Query`) on the table, nothing else.
Keys: pk `tenantId`, sk `recordId` = `{ISO-8601 time}#{random}`, so a tenant's records read back in time order.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger("herald.audit")

# An audited answer is held back until its record is written; bodies bigger than this are not parsed for fields.
_MAX_PARSED_BODY = 256 * 1024


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

    def key(self) -> str:
        return self.record_id or f"{self.time}#{secrets.token_hex(8)}"


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
    """Appends audit records to the DynamoDB table. One per process, on the app's long-lived client."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def append(self, record: AuditRecord) -> bool:
        """Put the record (never over another); False, logged with the whole record, when the write failed."""
        item: dict[str, Any] = {
            "tenantId": {"S": record.tenant_id},
            "recordId": {"S": record.key()},
            "time": {"S": record.time},
            "actor": {"S": record.actor},
            "action": {"S": record.action},
            "outcome": {"S": record.outcome},
            "status": {"N": str(record.status)},
        }
        for name, value in (("target", record.target), ("requestId", record.request_id), ("error", record.error)):
            if value:
                item[name] = {"S": value}
        if record.details:
            item["details"] = {"S": json.dumps(record.details, separators=(",", ":"), default=str)}
        try:
            await self._db.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(recordId)"
            )
        except (ClientError, BotoCoreError) as exc:
            # The call itself already happened: its answer stands, and the record survives in the logs.
            log.error("audit.write_failed", error=str(exc)[:300], record=asdict(record))
            return False
        return True


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
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
                request_id = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
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
            log.info("audit.unattributed", action=route.action, status=status, path=scope.get("path"))
            return
        params = scope.get("path_params") or {}
        if target is None and route.target_param:
            target = str(params.get(route.target_param) or "") or None
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
            log.error("audit.no_log", record=asdict(record))
            return
        await audit_log.append(record)


def _json(body: bytes, content_type: str) -> Any:
    if "json" not in content_type or not body or len(body) > _MAX_PARSED_BODY:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:512]
