"""The template service's routes over ASGI, backed by the emulator's S3."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pytest

from herald_template.app import create_app

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from herald_template.config import Settings

NEWS = {
    "name": "News",
    "subject": "Hi {{ first_name }}",
    "html": '<p>Hello {{ first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
}


async def put(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], template_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/templates/{template_id}", json=body, headers=auth("marketer"))


# --- saving and reading --------------------------------------------------------------------------------------------


async def test_first_save_is_201_and_later_saves_200(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    first = await put(client, auth, "news", NEWS)
    assert first.status_code == 201
    assert first.json() == {"templateId": "news", "version": 1}
    second = await put(client, auth, "news", {**NEWS, "subject": "v2 {{ first_name }}"})
    assert second.status_code == 200
    assert second.json() == {"templateId": "news", "version": 2}


async def test_get_latest_and_a_pinned_version(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    await put(client, auth, "news", NEWS)
    await put(client, auth, "news", {**NEWS, "subject": "second", "text": "plain"})
    latest = await client.get("/templates/news", headers=auth("viewer"))
    assert latest.status_code == 200
    body = latest.json()
    assert {k: body[k] for k in ("templateId", "version", "name", "subject", "text", "versions")} == {
        "templateId": "news",
        "version": 2,
        "name": "News",
        "subject": "second",
        "text": "plain",
        "versions": [1, 2],
    }
    assert body["createdAt"].endswith("Z")
    pinned = await client.get("/templates/news", params={"version": 1}, headers=auth("viewer"))
    assert pinned.json()["subject"] == NEWS["subject"]
    assert pinned.json()["text"] is None


async def test_list_templates(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    await put(client, auth, "b-news", NEWS)
    await put(client, auth, "b-news", NEWS)
    await put(client, auth, "a-welcome", {**NEWS, "name": None})
    answer = await client.get("/templates", headers=auth("viewer"))
    assert answer.status_code == 200
    listed = [(t["templateId"], t["latestVersion"], t["versions"]) for t in answer.json()["templates"]]
    assert listed == [("a-welcome", 1, [1]), ("b-news", 2, [1, 2])]


async def test_name_defaults_to_the_template_id(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    await put(client, auth, "welcome", {"subject": "s", "html": "h"})
    assert (await client.get("/templates/welcome", headers=auth("viewer"))).json()["name"] == "welcome"


# --- errors --------------------------------------------------------------------------------------------------------

ROUTES = [
    ("PUT", "/templates/news", NEWS),
    ("GET", "/templates", None),
    ("GET", "/templates/news", None),
    ("POST", "/templates/news/render", {"recipients": [{"email": "a@example.com"}]}),
    ("POST", "/render", {"subject": "s", "html": "h", "recipients": [{"email": "a@example.com"}]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_route_needs_a_token(client: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    answer = await client.request(method, path, json=body)
    assert answer.status_code == 401
    assert answer.json()["error"] == "Unauthorized"
    bad = await client.request(method, path, json=body, headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401


async def test_a_viewer_cannot_save(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    answer = await client.put("/templates/news", json=NEWS, headers=auth("viewer"))
    assert answer.status_code == 403
    assert answer.json()["error"] == "Forbidden"


async def test_a_viewer_can_render(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    await put(client, auth, "news", NEWS)
    body = {"recipients": [{"email": "a@example.com", "data": {"first_name": "A"}}]}
    assert (await client.post("/templates/news/render", json=body, headers=auth("viewer"))).status_code == 200


async def test_unknown_template_is_404(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    for answer in (
        await client.get("/templates/nope", headers=auth("viewer")),
        await client.post(
            "/templates/nope/render", json={"recipients": [{"email": "a@example.com"}]}, headers=auth("viewer")
        ),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"] == "TemplateNotFound"
    await put(client, auth, "news", NEWS)
    missing_version = await client.get("/templates/news", params={"version": 9}, headers=auth("viewer"))
    assert missing_version.status_code == 404
    assert missing_version.json()["error"] == "TemplateNotFound"


async def test_another_tenants_template_is_404(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], tenant: str
) -> None:
    await put(client, auth, "news", NEWS)
    other = auth("admin", tenant_id=tenant + "-other")
    assert (await client.get("/templates/news", headers=other)).status_code == 404
    render = await client.post(
        "/templates/news/render", json={"recipients": [{"email": "a@example.com"}]}, headers=other
    )
    assert render.status_code == 404
    assert (await client.get("/templates", headers=other)).json() == {"templates": []}
    # Saving under the same id in the other tenant starts its own history.
    assert (await client.put("/templates/news", json=NEWS, headers=other)).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/templates/news", {"html": "<p>x</p>"}, "subject"),
        ("PUT", "/templates/news", {"subject": "s", "html": ""}, "html"),
        ("POST", "/templates/news/render", {"recipients": []}, "recipients"),
        ("POST", "/templates/news/render", {"recipients": [{"data": {}}]}, "recipients.0.email"),
        ("POST", "/templates/news/render", {"recipients": [{"email": "a@example.com"}], "version": 0}, "version"),
        ("POST", "/render", {"html": "h", "recipients": [{"email": "a@example.com"}]}, "subject"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], method: str, path: str, body: Any, field: str
) -> None:
    answer = await client.request(method, path, json=body, headers=auth("marketer"))
    assert answer.status_code == 422
    assert answer.json()["error"] == "ValidationError"
    assert field in answer.json()["fields"]
    assert field in answer.json()["detail"]


async def test_bad_template_id_is_422(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
    answer = await client.put("/templates/bad%20id", json=NEWS, headers=auth("marketer"))
    assert answer.status_code == 422
    assert "templateId" in answer.json()["detail"]


async def test_a_broken_template_is_422_naming_the_line_and_not_stored(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    answer = await put(client, auth, "broken", {"subject": "ok", "html": "<p>\nfine\n{{ x | }}</p>"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "InvalidTemplate"
    assert answer.json()["detail"].startswith("html line 3:")
    assert (await client.get("/templates/broken", headers=auth("viewer"))).status_code == 404


async def test_an_unsafe_template_is_refused_when_saved(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    answer = await put(client, auth, "evil", {"subject": "s", "html": "{{ cycler.__init__.__globals__ }}"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "UnsafeTemplate"


async def test_an_oversized_template_is_refused(
    template_settings: Settings, auth: Callable[..., dict[str, str]]
) -> None:
    import httpx

    small = template_settings.model_copy(update={"template_max_source_bytes": 1000, "render_max_recipients": 2})
    app = create_app(small)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            too_big = await client.put("/templates/big", json={"subject": "s", "html": "x" * 1001}, headers=auth())
            assert too_big.status_code == 422
            assert too_big.json()["error"] == "TemplateTooLarge"
            three = [{"email": f"{i}@example.com"} for i in range(3)]
            many = await client.post("/render", json={"subject": "s", "html": "h", "recipients": three}, headers=auth())
            assert many.status_code == 422
            assert many.json()["error"] == "TooManyRecipients"


async def test_the_service_lengthens_the_thread_switch_interval_while_it_runs(template_settings: Settings) -> None:
    before = sys.getswitchinterval()
    application = create_app(template_settings.model_copy(update={"render_switch_interval_seconds": 0.013}))
    async with application.router.lifespan_context(application):
        assert sys.getswitchinterval() == pytest.approx(0.013)
    assert sys.getswitchinterval() == before  # the process's own setting is given back at shutdown
