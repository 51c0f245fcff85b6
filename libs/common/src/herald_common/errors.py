"""One error base and one handler: every 4xx/5xx body is `{"error": "...", "detail": "..."}`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

log = structlog.get_logger("herald.errors")


class HeraldError(Exception):
    """Base of every domain error. Subclasses set `status_code` and `code` (the `error` field)."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "InternalError"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(HeraldError):
    status_code = 400
    code = "BadRequest"


class Unauthorized(HeraldError):
    status_code = 401
    code = "Unauthorized"


class Forbidden(HeraldError):
    status_code = 403
    code = "Forbidden"


class NotFound(HeraldError):
    status_code = 404
    code = "NotFound"


class Conflict(HeraldError):
    status_code = 409
    code = "Conflict"


class Unprocessable(HeraldError):
    status_code = 422
    code = "ValidationError"


class PayloadTooLarge(HeraldError):
    status_code = 413
    code = "PayloadTooLarge"


class ServiceUnavailable(HeraldError):
    status_code = 503
    code = "ServiceUnavailable"


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def _describe_validation(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


_STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
}


def install_error_handlers(app: FastAPI) -> None:
    """Render domain errors, validation errors, routing errors and unexpected faults in the SPEC shape."""

    async def on_herald_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HeraldError)
        return JSONResponse(error_body(exc.code, exc.detail), status_code=exc.status_code, headers=exc.headers)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [dict(e) for e in exc.errors()]
        fields = [".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body" for e in errors]
        body: dict[str, Any] = error_body("ValidationError", _describe_validation(errors))
        body["fields"] = fields
        return JSONResponse(body, status_code=422)

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "HTTPError")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=exc.headers)

    async def on_recursion(request: Request, exc: Exception) -> JSONResponse:
        # Input nested deeper than some recursive code can follow. Each route bounds the depth it accepts
        # (herald_common.json_depth) before this can happen; this keeps any route that was missed a 400, logged
        # as an error so the gap gets closed.
        log.error("http.recursion_error", path=request.url.path[:256], method=request.method, error=str(exc)[:200])
        return JSONResponse(error_body("BadRequest", "The request is nested too deeply."), status_code=400)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled_error", path=request.url.path[:256], method=request.method, exc_info=exc)
        return JSONResponse(error_body("InternalError", "An unexpected error occurred."), status_code=500)

    app.add_exception_handler(HeraldError, on_herald_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RecursionError, on_recursion)
    app.add_exception_handler(Exception, on_unexpected)
