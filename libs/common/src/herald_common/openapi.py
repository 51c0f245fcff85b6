"""Every service's OpenAPI document describes its errors as they are: `{"error", "detail", "fields"?}`.

FastAPI documents a 422 as its own `HTTPValidationError` (`detail` a list), which is not what Herald answers, and
documents no 401/403/404/409/429/5xx at all. This replaces the former and adds `4XX`/`5XX` entries in the SPEC's
error shape to every operation, so clients (and schemathesis) can rely on the document for every answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

ERROR_SCHEMA_NAME = "ErrorOut"  # the template service declares its own, same shape, with examples
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "A stable error code, e.g. `CampaignNotFound`."},
        "detail": {"type": "string", "description": "A human sentence."},
        "fields": {"type": "array", "items": {"type": "string"}, "description": "422: the fields that failed."},
    },
    "examples": [{"error": "CampaignNotFound", "detail": "Campaign 'camp_123' does not exist."}],
}
_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"
_RANGES = {"4XX": "A client error, in the SPEC's error shape", "5XX": "A server fault, in the SPEC's error shape"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _REF}}}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an OpenAPI document in place (and return it): error answers in Herald's shape."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for response in responses.values():
                json_body = response.get("content", {}).get("application/json", {})
                if json_body.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION:
                    json_body["schema"] = _REF
            for code, description in _RANGES.items():
                responses.setdefault(code, _error_response(description))
    if _FASTAPI_VALIDATION not in str(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


def install_error_documentation(app: FastAPI) -> None:
    """Make `app.openapi()` return the document with Herald's error answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
