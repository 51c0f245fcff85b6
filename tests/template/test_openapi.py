"""The OpenAPI document is part of the product: every route described, with request, answer and error examples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from herald_template.templates.schemas import (
    ErrorOut,
    InlineRenderRequest,
    RenderRequest,
    RenderResponse,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplateSaved,
)

if TYPE_CHECKING:
    import httpx

ROUTES = {
    ("put", "/templates/{templateId}"),
    ("get", "/templates"),
    ("get", "/templates/{templateId}"),
    ("post", "/templates/{templateId}/render"),
    ("post", "/render"),
}


@pytest.fixture(scope="module")
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = spec
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def _json_examples(spec: dict[str, Any], content: dict[str, Any]) -> list[Any]:
    """Examples of a JSON body: on the media type (`example`/`examples`) or on its schema."""
    media = content["application/json"]
    found = [media["example"]] if "example" in media else []
    found += [e["value"] for e in media.get("examples", {}).values()]
    return found + list(_resolve(spec, media["schema"]).get("examples", []))


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, ops in spec["paths"].items() for method, op in ops.items()}


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    assert set(_operations(spec)) == ROUTES  # a new route must be added here, and so to the checks below
    for key, op in _operations(spec).items():
        assert op.get("summary"), key
        assert len(op.get("description", "")) > 20, key  # the handler's docstring


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    for key, op in _operations(spec).items():
        if key[0] in ("put", "post"):
            assert _json_examples(spec, op["requestBody"]["content"]), key


def test_every_success_answer_has_an_example(spec: dict[str, Any]) -> None:
    for key, op in _operations(spec).items():
        success = [code for code in op["responses"] if code.startswith("2")]
        assert success, key
        for code in success:
            assert _json_examples(spec, op["responses"][code]["content"]), (key, code)


def test_every_error_answer_has_the_spec_shape_and_an_example(spec: dict[str, Any]) -> None:
    for key, op in _operations(spec).items():
        errors = {code: r for code, r in op["responses"].items() if code[0] in "45"}
        assert "401" in errors, key
        assert "422" in errors or key == ("get", "/templates"), key  # the list takes no parameters
        for code, response in errors.items():
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (key, code)
            for example in _json_examples(spec, response["content"]):
                ErrorOut.model_validate(example)
    assert "404" in _operations(spec)[("post", "/templates/{templateId}/render")]["responses"]
    assert "413" in _operations(spec)[("post", "/render")]["responses"]


@pytest.mark.parametrize(
    "model",
    [
        TemplateIn,
        TemplateSaved,
        TemplateOut,
        TemplateList,
        RenderRequest,
        InlineRenderRequest,
        RenderResponse,
        ErrorOut,
    ],
)
def test_schema_examples_are_valid_bodies(model: type[BaseModel]) -> None:
    # A stale example (a renamed field, a wrong type) is worse than none: each must validate against its model.
    examples = model.model_json_schema(by_alias=True)["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)
