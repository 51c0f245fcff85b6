"""The WSGI layer around moto: Herald's control routes under `/_emulator/`, DynamoDB calls failed on demand, and SES
sends watched on their way through (faults before moto sees them; the message log, SES events and a lost answer after
moto accepted them).

Control routes:
- `GET /_emulator/ses/messages` → `{"messages": [...]}`, in the order accepted; `?tag=NAME:VALUE` keeps only those
  sent with that message tag (a test reads its own campaign's, not every message the emulator ever took); `DELETE`
  empties the log
- `GET|PUT|DELETE /_emulator/faults` → the SES and DynamoDB faults in force (PUT replaces them with the body's
  subset)
- `POST /_emulator/reset` → empties moto, the log, pending events and faults, then provisions again
- `GET /_emulator/health` → 200 `{"status": "ok"}` once provisioned (503 `{"status": "provisioning"}` before)

SES's account quota (v2 GetAccount, v1 GetSendQuota) is answered here too: its `MaxSendRate` is the `sesMaxSendRate`
fault and its `Max24HourSend` the `sesMax24HourSend` fault (quota.py). So are SES tenants (ses_tenants.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import structlog
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal.models import moto_api_backend
from moto.ses.models import ses_backends

from herald_emulator.faults import (
    FaultInjector,
    FaultResponse,
    Faults,
    daily_quota_exceeded,
    internal_error,
    v1_error,
    v2_error,
)
from herald_emulator.messages import (
    V2_SEND_PATH,
    MessageLog,
    SendRequest,
    accepted_message_id,
    parse_v1_send,
    parse_v2_send,
)
from herald_emulator.quota import (
    UNLIMITED,
    V1_QUOTA_ACTION,
    V2_ACCOUNT_PATH,
    SendQuota,
    v1_action,
    v1_send_quota,
    v2_account,
)
from herald_emulator.ses_events import EventPublisher, build_events, mail_object
from herald_emulator.ses_tenants import TenantRegistry

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
StartResponse = Callable[..., Any]

log = structlog.get_logger("herald.emulator")

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/ses/aws4_request")
# DynamoDB's JSON 1.0 operations are named by this header (DynamoDB Streams uses `DynamoDBStreams_20120810.`).
_DYNAMODB_TARGET = "DynamoDB_20120810."
_STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}


def _account_id() -> str:
    return os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so the wrapped app reads it as if untouched."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _respond(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    data = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(f"{status} {_STATUS_TEXT.get(status, 'OK')}", headers)
    return [data]


def _answer(start_response: StartResponse, fault: FaultResponse) -> list[bytes]:
    start_response(fault.status, [*fault.headers, ("Content-Length", str(len(fault.body)))])
    return [fault.body]


class EmulatorMiddleware:
    """Wraps moto's WSGI app. Thread-safe: werkzeug serves each request on its own thread."""

    def __init__(self, app: WsgiApp, *, after_reset: Callable[[], None] | None = None) -> None:
        self._app = app
        self._after_reset = after_reset
        self.messages = MessageLog()
        self.faults = FaultInjector()
        self.events = EventPublisher()
        self.tenants = TenantRegistry()
        # SentLast24Hours: recipients of the sends accepted since the last reset (moto counts a raw message's
        # explicit destinations and its To header both, so twice per message).
        self._sent = 0
        self._sent_lock = threading.Lock()
        self.ready = threading.Event()  # set once the emulator's prefix is provisioned

    def start(self) -> None:
        self.events.start()

    def stop(self) -> None:
        self.events.stop()

    def reset(self) -> None:
        self.ready.clear()
        self.events.clear()
        self.events.wait_idle()
        moto_api_backend.reset()
        self.messages.clear()
        self.faults.clear()
        self.tenants.clear()
        with self._sent_lock:
            self._sent = 0
        if self._after_reset is not None:
            self._after_reset()
        self.ready.set()
        log.info("emulator.reset")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self._control(environ, start_response, path, environ.get("REQUEST_METHOD", "GET"))
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET):
            fault = self.faults.check_dynamodb()
            if fault is not None:
                _read_body(environ)  # the request is consumed as if run, so its keep-alive connection stays usable
                return _answer(start_response, fault)
        scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        method = environ.get("REQUEST_METHOD")
        if scope is not None and method == "GET" and path == V2_ACCOUNT_PATH:
            status = self.faults.faults.accountEnforcementStatus or "HEALTHY"
            return _answer(start_response, v2_account(self._quota(), status))
        if scope is not None and self.tenants.handles(str(method), path):
            statuses = self.faults.faults.sesTenantStatus
            answer = self.tenants.call(path, _read_body(environ), scope.group(1), _account_id(), statuses)
            return _answer(start_response, answer)
        if scope is not None and method == "POST":
            request: SendRequest | None = None
            if path == V2_SEND_PATH:
                request = parse_v2_send(_read_body(environ))
            elif path in ("", "/"):
                body = _read_body(environ)
                if v1_action(body) == V1_QUOTA_ACTION:
                    return _answer(start_response, v1_send_quota(self._quota()))
                request = parse_v1_send(body)
            if request is not None:
                return self._send(environ, start_response, request, scope.group(1))
        return self._app(environ, start_response)

    def _quota(self) -> SendQuota:
        rate = self.faults.faults.sesMaxSendRate
        daily = self.faults.faults.sesMax24HourSend
        return SendQuota(
            max_24_hour_send=daily if daily else UNLIMITED,
            max_send_rate=rate if rate else UNLIMITED,
            sent_last_24_hours=float(self._sent),
        )

    # SES sends ---------------------------------------------------------------------------------------------
    def _send(
        self, environ: dict[str, Any], start_response: StartResponse, request: SendRequest, region: str
    ) -> Iterable[bytes]:
        fault = self.faults.check(request.api)
        if fault is not None:
            return _answer(start_response, fault)
        ses = ses_backends[_account_id()][region]
        if request.configuration_set and request.configuration_set not in ses.config_sets:
            # AWS refuses a send naming an unknown configuration set; moto would accept it.
            message = f"Configuration set <{request.configuration_set}> does not exist."
            if request.api == "v1":
                return _answer(
                    start_response, v1_error("400 Bad Request", "Sender", "ConfigurationSetDoesNotExist", message)
                )
            return _answer(start_response, v2_error("404 Not Found", "NotFoundException", message))
        refused = self.tenants.refuse(request, region, _account_id(), self.faults.faults.sesTenantStatus)
        if refused is not None:
            return _answer(start_response, refused)
        # Counted before moto runs it (given back if moto refuses), so concurrent sends never pass the daily quota.
        count = len(request.destinations)
        with self._sent_lock:
            daily = self.faults.faults.sesMax24HourSend
            if daily and self._sent >= daily:
                return _answer(start_response, daily_quota_exceeded(request.api))
            self._sent += count

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        accepted = False
        try:
            result = self._app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status: str = captured["status"]
            accepted = status.startswith("2")
        finally:
            if not accepted:  # not sent: not counted
                with self._sent_lock:
                    self._sent -= count
        if accepted:
            message_id = accepted_message_id(request.api, body)
            if message_id is not None:
                self._accepted(message_id, request, region)
                if self.faults.lose_answer():
                    # Sent, recorded and its events published, but the client hears only a 500: an outcome in doubt.
                    return _answer(start_response, internal_error(request.api))
        start_response(status, captured["headers"])
        return [body]

    def _accepted(self, message_id: str, request: SendRequest, region: str) -> None:
        sent_at = datetime.now(UTC)
        self.messages.record(message_id, request, sent_at)
        if not request.configuration_set:
            return
        account_id = _account_id()
        destination = ses_backends[account_id][region].config_set_event_destination.get(request.configuration_set)
        if not destination or str(destination.get("Enabled", True)).lower() != "true":
            return
        topic_arn = (destination.get("SNSDestination") or {}).get("TopicARN")
        if not topic_arn:
            return
        wanted = {str(t).lower() for t in destination.get("MatchingEventTypes") or []}
        mail = mail_object(message_id, request, sent_at, account_id, region)
        late = (self.faults.faults.sesEventDelayMs or 0.0) / 1000
        for delay, event in build_events(mail, sent_at, self.faults.recipient_outcome):
            if event["eventType"].lower() in wanted:
                self.events.schedule(late + delay, account_id, region, topic_arn, event)

    # Control routes ------------------------------------------------------------------------------------------
    def _control(self, environ: dict[str, Any], start_response: StartResponse, path: str, method: str) -> list[bytes]:
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_emulator/health"):
            if self.ready.is_set():
                return _respond(start_response, 200, {"status": "ok"})
            return _respond(start_response, 503, {"status": "provisioning"})
        if route == ("GET", "/_emulator/ses/messages"):
            wanted = parse_qs(environ.get("QUERY_STRING", "")).get("tag")
            if wanted is None:
                return _respond(start_response, 200, {"messages": self.messages.all()})
            name, colon, value = wanted[0].partition(":")
            if not colon:
                return _respond(start_response, 400, {"error": "BadRequest", "detail": "tag must be NAME:VALUE"})
            return _respond(start_response, 200, {"messages": self.messages.tagged(name, value)})
        if route == ("DELETE", "/_emulator/ses/messages"):
            self.messages.clear()
            return _respond(start_response, 200, {"messages": []})
        if route == ("GET", "/_emulator/faults"):
            return _respond(start_response, 200, self.faults.faults.as_dict())
        if route == ("PUT", "/_emulator/faults"):
            try:
                faults = Faults.parse(json.loads(_read_body(environ) or b"{}"))
            except ValueError as exc:
                return _respond(start_response, 400, {"error": "BadRequest", "detail": str(exc)})
            log.info("emulator.faults_set", **faults.as_dict())
            return _respond(start_response, 200, self.faults.replace(faults).as_dict())
        if route == ("DELETE", "/_emulator/faults"):
            self.faults.clear()
            return _respond(start_response, 200, {})
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return _respond(start_response, 200, {"reset": True})
        return _respond(start_response, 404, {"error": "NotFound", "detail": f"no emulator route {method} {path}"})
