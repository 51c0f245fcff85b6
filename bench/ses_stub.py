"""An SES-compatible endpoint that answers instantly, so a benchmark measures the client's cost and nothing else.

A raw ASGI app (no framework: a framework's own cost would blur the measurement if the stub shared a core with the
client): SES v2 `POST /v2/email/outbound-emails` answers `{"MessageId": …}`, SES v1 `Action=SendRawEmail` answers
the XML `SendRawEmailResponse`. Run it in its own process: `python -m bench.ses_stub --port P`, or `running_stub()`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from herald_cli.stack import free_port, serving

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REPO_ROOT = Path(__file__).resolve().parents[1]
V2_SEND_PATH = "/v2/email/outbound-emails"
V1_SEND_RAW_RESPONSE = (
    '<SendRawEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
    "<SendRawEmailResult><MessageId>{message_id}</MessageId></SendRawEmailResult>"
    "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
    "</SendRawEmailResponse>"
)
V1_ERROR_RESPONSE = (
    '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>'
    "<Code>InvalidAction</Code><Message>The stub answers SendRawEmail only</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)

# Calls answered, by API, for `GET /_stub/counts` (tests check the stub really was the one answering).
counts = {"v2": 0, "v1": 0}


def _message_id() -> str:
    return f"{uuid.uuid4()}-000000"


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.append((b"x-amzn-requestid", str(uuid.uuid4()).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    method, path = scope["method"], scope["path"]
    if method == "POST" and path == V2_SEND_PATH:
        counts["v2"] += 1
        await _respond(send, 200, json.dumps({"MessageId": _message_id()}).encode(), b"application/json")
    elif method == "POST" and path == "/":
        request_id = str(uuid.uuid4())
        if b"Action=SendRawEmail" in body:
            counts["v1"] += 1
            xml = V1_SEND_RAW_RESPONSE.format(message_id=_message_id(), request_id=request_id)
            await _respond(send, 200, xml.encode(), b"text/xml")
        else:
            await _respond(send, 400, V1_ERROR_RESPONSE.format(request_id=request_id).encode(), b"text/xml")
    elif method == "GET" and path == "/_stub/counts":
        await _respond(send, 200, json.dumps(counts).encode(), b"application/json")
    elif method == "GET" and path == "/healthz":
        await _respond(send, 200, b'{"status": "ok"}', b"application/json")
    else:
        await _respond(send, 404, b'{"message": "not an SES send route"}', b"application/json")


@contextlib.contextmanager
def running_stub(host: str = "127.0.0.1", port: int | None = None, timeout: float = 15.0) -> Iterator[str]:
    """Run the stub in a child process on a free port; yield its URL; stop it on exit."""
    port = port or free_port(host)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bench.ses_stub", "--host", host, "--port", str(port)]
    url = f"http://{host}:{port}"
    with serving(command, url, env=env, cwd=REPO_ROOT, timeout=timeout, name="the SES stub"):
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ses_stub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4579)
    args = parser.parse_args(argv)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
