"""A bound on request bodies: a body over the limit is refused with 413 before it is read into memory.

FastAPI reads and parses a whole JSON body before the route runs, so without a bound one request could make the
service hold (and parse) any amount of data. A declared `Content-Length` over the limit is answered at once; a body
sent without one (chunked) is counted as it arrives: once it passes the limit the app's read is interrupted, what
the app answers to that is dropped, and the 413 is sent instead. Nothing past the limit is held.

Every service gets one (`herald_common.web.create_service_app`); a route that streams a large body on purpose (the
campaign service's recipient upload) gets its own, larger, limit through `overrides`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from herald_common.errors import error_body

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = 413


class BodySizeLimit:
    """Pure ASGI middleware (it does not buffer the response, unlike `BaseHTTPMiddleware`).

    `overrides`: `(method, path regex, max bytes)` for the routes that need another limit (first match wins)."""

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Sequence[tuple[str, str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._overrides = [(method.upper(), re.compile(pattern), limit) for method, pattern, limit in overrides]

    def limit_for(self, method: str, path: str) -> int:
        for wanted, pattern, limit in self._overrides:
            if wanted == method and pattern.fullmatch(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["method"], scope["path"])
        detail = f"The request body is over the limit of {max_bytes} bytes."
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            response = JSONResponse(error_body("PayloadTooLarge", detail), status_code=TOO_LARGE)
            await response(scope, receive, send)
            return
        received, too_large, started = 0, False, False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # whatever the app makes of the interrupted read (a 400), the answer is ours
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            # A route that streams the body itself (no FastAPI body parsing to turn the interruption into a 400)
            # fails with our interruption, or with what it made of it: the answer is still the 413.
            if not too_large:
                raise
        if too_large and not started:
            response = JSONResponse(error_body("PayloadTooLarge", detail), status_code=TOO_LARGE)
            await response(scope, receive, send)


class _BodyTooLarge(Exception):
    """Interrupts the app's read of a body that went over the limit (the app turns it into an error answer)."""
