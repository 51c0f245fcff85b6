"""A bound on request bodies: a body over the limit is refused with 413 before it is read into memory.

FastAPI reads and parses a whole JSON body before the route runs, so without a bound one request could make the
service hold (and parse) any amount of data. A declared `Content-Length` over the limit is answered at once; a body
sent without one (chunked) is counted as it arrives: once it passes the limit the app's read is interrupted, what
the app answers to that is dropped, and the 413 is sent instead. Nothing past the limit is held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from herald_common.errors import error_body

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = 413


class BodySizeLimit:
    """Pure ASGI middleware (it does not buffer the response, unlike `BaseHTTPMiddleware`)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"The request body is over the limit of {self.max_bytes} bytes."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(error_body("PayloadTooLarge", self._detail()), status_code=TOO_LARGE)
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
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # whatever the app makes of the interrupted read (a 400), the answer is ours
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if too_large and not started:
            response = JSONResponse(error_body("PayloadTooLarge", self._detail()), status_code=TOO_LARGE)
            await response(scope, receive, send)


class _BodyTooLarge(Exception):
    """Interrupts the app's read of a body that went over the limit (the app turns it into an error answer)."""
