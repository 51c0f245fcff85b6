"""The OpenAPI document (`/docs`) is part of the product: every campaign-service route described, with example
request bodies, example answers and its errors in the SPEC's shape, and every example a valid body."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from herald_campaign.app import create_app
from herald_campaign.audit.schemas import AuditPage
from herald_campaign.campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignUpdate,
    CampaignView,
    RecipientsAdded,
    RetryResult,
    SendRequest,
    StatusChange,
    TestSendRequest,
    TestSendResult,
)
from herald_campaign.openapi_docs import ErrorOut
from herald_campaign.preview.api import SampleRecipient
from herald_campaign.senders.schemas import SenderAuthenticationView
from herald_campaign.sending_policy.schemas import SendingPolicy
from herald_campaign.suppressions.schemas import SuppressionCreate, SuppressionPage, SuppressionView
from herald_campaign.webhooks.schemas import DeliveryList, WebhookCreate, WebhookCreated, WebhookList

ROUTES = {
    ("post", "/campaigns"),
    ("get", "/campaigns"),
    ("get", "/campaigns/{campaign_id}"),
    ("patch", "/campaigns/{campaign_id}"),
    ("delete", "/campaigns/{campaign_id}"),
    ("post", "/campaigns/{campaign_id}/recipients"),
    ("post", "/campaigns/{campaign_id}/send"),
    ("post", "/campaigns/{campaign_id}/pause"),
    ("post", "/campaigns/{campaign_id}/resume"),
    ("post", "/campaigns/{campaign_id}/cancel"),
    ("get", "/campaigns/{campaign_id}/invalid"),
    ("post", "/campaigns/{campaign_id}/test-send"),
    ("post", "/campaigns/{campaign_id}/retry-failed"),
    ("get", "/campaigns/{campaign_id}/sender-authentication"),
    ("get", "/suppressions"),
    ("post", "/suppressions"),
    ("delete", "/suppressions/{email}"),
    ("get", "/sending-policy"),
    ("put", "/sending-policy"),
    ("get", "/reputation"),
    ("get", "/audit"),
    ("get", "/campaigns/{campaign_id}/sample-recipient"),
    ("post", "/webhooks"),
    ("get", "/webhooks"),
    ("delete", "/webhooks/{webhook_id}"),
    ("get", "/webhooks/{webhook_id}/deliveries"),
    ("get", "/u/{token}"),
    ("post", "/u/{token}"),
}
PUBLIC = {("get", "/u/{token}"), ("post", "/u/{token}")}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = spec
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def _examples(spec: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """Examples of one media type: on it (`example`/`examples`) or on its schema."""
    found = [media["example"]] if "example" in media else []
    found += [e["value"] for e in media.get("examples", {}).values()]
    return found + list(_resolve(spec, media.get("schema", {})).get("examples", []))


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, ops in spec["paths"].items() for method, op in ops.items()}


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    routes = {key for key in _operations(spec) if not key[1].startswith(("/healthz", "/readyz", "/metrics"))}
    assert routes == ROUTES  # a new route must be added here, and so to the checks below
    for key in ROUTES:
        op = _operations(spec)[key]
        assert op.get("summary"), key
        assert len(op.get("description", "")) > 20, key  # the handler's docstring


def test_every_request_body_has_an_example_in_each_of_its_media_types(spec: dict[str, Any]) -> None:
    with_body = {key for key in ROUTES if "requestBody" in _operations(spec)[key]}
    assert with_body == {
        ("post", "/campaigns"),
        ("patch", "/campaigns/{campaign_id}"),
        ("post", "/campaigns/{campaign_id}/recipients"),
        ("post", "/campaigns/{campaign_id}/send"),
        ("post", "/campaigns/{campaign_id}/test-send"),
        ("post", "/suppressions"),
        ("put", "/sending-policy"),
        ("post", "/webhooks"),
    }
    for key in with_body:
        content = _operations(spec)[key]["requestBody"]["content"]
        for media_type, media in content.items():
            assert _examples(spec, media), (key, media_type)
    assert set(_operations(spec)[("post", "/campaigns/{campaign_id}/recipients")]["requestBody"]["content"]) == {
        "application/json",
        "text/csv",
    }


def test_every_answer_with_a_body_has_an_example(spec: dict[str, Any]) -> None:
    for key in ROUTES - {("get", "/u/{token}")}:  # that one is the HTML confirmation page
        for code, response in _operations(spec)[key]["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if media_type == "text/html":
                    continue
                assert _examples(spec, media), (key, code, media_type)


def test_every_error_answer_has_the_spec_shape(spec: dict[str, Any]) -> None:
    for key in ROUTES:
        responses = _operations(spec)[key]["responses"]
        errors = {code: r for code, r in responses.items() if code[0] in "45"}
        if key not in PUBLIC:
            assert {"401", "422"} <= set(errors), key
        if "{campaign_id}" in key[1]:
            assert "404" in errors, key
        for code, response in errors.items():
            for example in _examples(spec, response["content"]["application/json"]):
                ErrorOut.model_validate(example)
                assert set(example) <= {"error", "detail", "fields"}, (key, code)
    send = _operations(spec)[("post", "/campaigns/{campaign_id}/send")]["responses"]
    assert {"400", "403", "404", "409"} <= set(send)  # the flow document's send errors


@pytest.mark.parametrize(
    "model",
    [CampaignCreate, CampaignUpdate, SendRequest, TestSendRequest, SuppressionCreate, SendingPolicy, WebhookCreate],
)
def test_request_examples_are_valid_bodies(model: type[BaseModel]) -> None:
    # A stale example (a renamed field, a wrong type) is worse than none: each must validate against its model.
    examples = model.model_json_schema(by_alias=True)["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


@pytest.mark.parametrize(
    "model",
    [CampaignView, CampaignPage, StatusChange, RecipientsAdded, RetryResult, TestSendResult, SuppressionView,
     SuppressionPage, SenderAuthenticationView, AuditPage, SendingPolicy, WebhookCreated, WebhookList, DeliveryList,
     SampleRecipient],
)  # fmt: skip
def test_answer_examples_have_exactly_the_answers_fields(model: type[BaseModel]) -> None:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    for example in schema["examples"]:
        assert set(example) <= set(schema["properties"]), model
        assert set(schema.get("required", [])) <= set(example), model
