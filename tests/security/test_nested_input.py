"""Deeply nested JSON answers 400 or 422 in the SPEC's error shape on every route that reads a body, never 500: a 4 KB
body nested 2,000 deep (the issue's reproduction on `POST /campaigns/{id}/recipients`), placed wherever each route
family would read it — the whole body, a recipient, a recipient's data, test-send data, render data."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI

from herald_common.auth import mint_token
from herald_common.errors import install_error_handlers
from herald_common.unsubscribe import UnsubscribeTarget, make_token
from herald_template.app import create_app as create_template
from herald_template.config import Settings as TemplateSettings
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign

if TYPE_CHECKING:
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(90)

DEPTH = 2000
NESTED_TEXT = "[" * DEPTH + "]" * DEPTH  # 4,000 bytes
NESTED_OBJECT_TEXT = '{"a":' * DEPTH + "1" + "}" * DEPTH


def _nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _assert_refused(answer: httpx.Response, where: str) -> None:
    assert answer.status_code in (400, 422), f"{where}: {answer.status_code} {answer.text[:300]}"
    assert set(answer.json()) >= {"error", "detail"}, where


def _json(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


# Bodies for each campaign route family: (method, path template, raw JSON text). `{cid}` is a draft's id.
RECIPIENT_DATA = '{"recipients":[{"email":"a@example.com","data":{"x":' + NESTED_TEXT + "}}]}"
CAMPAIGN_ROUTES = [
    ("POST", "/campaigns/{cid}/recipients", NESTED_TEXT),  # the reproduction: the whole body nested
    ("POST", "/campaigns/{cid}/recipients", '{"recipients":[' + NESTED_TEXT + "]}"),
    ("POST", "/campaigns/{cid}/recipients", '{"recipients":[' + NESTED_OBJECT_TEXT + "]}"),
    ("POST", "/campaigns/{cid}/recipients", RECIPIENT_DATA),
    ("POST", "/campaigns/{cid}/recipients", '{"other":' + NESTED_TEXT + ',"recipients":[]}'),
    ("POST", "/campaigns", NESTED_TEXT),
    (
        "POST",
        "/campaigns",
        '{"name":"S","templateId":"newsletter","fromAddress":"news@example.com","recipients":[{"email":"a@example.com",'
        '"data":{"x":' + NESTED_TEXT + "}}]}",
    ),
    ("PATCH", "/campaigns/{cid}", '{"name":' + NESTED_TEXT + "}"),
    ("POST", "/campaigns/{cid}/send", '{"throttle":' + NESTED_OBJECT_TEXT + "}"),
    ("POST", "/campaigns/{cid}/test-send", '{"emails":["a@example.com"],"data":{"x":' + NESTED_TEXT + "}}"),
    ("POST", "/suppressions", '{"email":' + NESTED_TEXT + "}"),
]


async def test_every_campaign_route_refuses_deep_nesting_without_a_500(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    marketer, admin = bearer(settings), bearer(settings, role="admin")
    async with campaign_service(settings) as (_, client):
        cid = (await new_campaign(client, marketer))["campaignId"]
        for method, template, text in CAMPAIGN_ROUTES:
            path = template.format(cid=cid)
            headers = admin if path == "/suppressions" else marketer
            answer = await client.request(method, path, headers=headers | {"content-type": "application/json"},
                                          content=text.encode())  # fmt: skip
            _assert_refused(answer, f"{method} {path} {text[:40]}")
        # The public one-click unsubscribe reads no JSON: a nested body changes nothing about its answer.
        token = make_token(settings.unsubscribe_secret, UnsubscribeTarget("acme", cid, "a@example.com"))
        one_click = await client.post(f"/u/{token}", headers={"content-type": "application/json"},
                                      content=NESTED_TEXT.encode())  # fmt: skip
        assert one_click.status_code == 200, one_click.text
        # Nothing of it was stored: the draft still has no recipients.
        view = (await client.get(f"/campaigns/{cid}", headers=marketer)).json()
        assert view["counts"]["recipients"] == 0


async def test_a_recipients_upload_of_2000_deep_data_object_is_refused(herald_settings: HeraldSettings) -> None:
    """Within what the JSON decoder accepts (objects of lists nested below its own limit) but deeper than any
    personalisation data: refused (422) naming the recipients, instead of failing later on the way to storage."""
    settings = campaign_settings(herald_settings)
    marketer = bearer(settings)
    async with campaign_service(settings) as (_, client):
        cid = (await new_campaign(client, marketer))["campaignId"]
        body = {"recipients": [{"email": "a@example.com", "data": {"x": _nested_list(500)}}]}
        answer = await client.post(f"/campaigns/{cid}/recipients", json=body, headers=marketer)
        assert answer.status_code == 422, answer.text
        assert "nested" in answer.json()["detail"]


async def test_every_template_route_refuses_deep_nesting_without_a_500(herald_settings: HeraldSettings) -> None:
    settings = TemplateSettings(
        resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=herald_settings.aws_endpoint_url
    )
    tenant = "t" + secrets.token_hex(4)
    headers = {"Authorization": f"Bearer {mint_token(settings, tenant_id=tenant, roles=['marketer'])}"}
    app = create_template(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as t:
        saved = await t.put("/templates/news", json={"subject": "Hi", "html": "<p>{{ x }}</p>"}, headers=headers)
        assert saved.status_code == 201, saved.text
        data = '{"recipients":[{"email":"a@example.com","data":{"x":' + NESTED_TEXT + "}}]}"
        inline = '{"subject":"Hi","html":"<p>x</p>","recipients":[{"email":"a@example.com","data":{"x":' + NESTED_TEXT
        for method, path, text in [
            ("PUT", "/templates/news", NESTED_TEXT),
            ("PUT", "/templates/news", '{"subject":"Hi","html":' + NESTED_TEXT + "}"),
            ("POST", "/templates/news/render", NESTED_TEXT),
            ("POST", "/templates/news/render", data),
            ("POST", "/render", NESTED_TEXT),
            ("POST", "/render", inline + "}}]}"),
        ]:
            answer = await t.request(method, path, headers=headers | {"content-type": "application/json"},
                                     content=text.encode())  # fmt: skip
            _assert_refused(answer, f"{method} {path} {text[:40]}")
        # Render data nested below the decoder's limit but far deeper than any template variable: 422.
        shallow = {"recipients": [{"email": "a@example.com", "data": {"x": _nested_list(500)}}]}
        answer = await t.post("/templates/news/render", json=shallow, headers=headers)
        assert answer.status_code == 422, answer.text


async def test_a_recursion_error_any_route_missed_is_still_a_400() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/deep")
    async def deep() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
        answer = await client.post("/deep")
    assert answer.status_code == 400
    assert answer.json() == {"error": "BadRequest", "detail": "The request is nested too deeply."}
