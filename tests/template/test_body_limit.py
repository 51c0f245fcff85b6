"""Request bodies are bounded: over the limit is a 413 in the SPEC shape, declared or streamed, before any parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from herald_common.auth import mint_token
from herald_template.app import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_template.config import Settings

LIMIT = 2000


@pytest.fixture(scope="module")
async def small_client(template_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings = template_settings.model_copy(update={"template_max_request_bytes": LIMIT})
    app = create_app(settings)
    token = mint_token(settings, tenant_id="tenant-limits", roles=("viewer",))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
            yield client


def _body(html_bytes: int) -> dict[str, object]:
    return {"subject": "s", "html": "x" * html_bytes, "recipients": [{"email": "a@example.com"}]}


async def test_a_body_under_the_limit_is_served(small_client: httpx.AsyncClient) -> None:
    answer = await small_client.post("/render", json=_body(LIMIT - 200))
    assert answer.status_code == 200
    assert answer.json()["results"][0]["html"] == "x" * (LIMIT - 200)


async def test_a_declared_body_over_the_limit_is_413(small_client: httpx.AsyncClient) -> None:
    answer = await small_client.post("/render", json=_body(LIMIT))
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "PayloadTooLarge",
        "detail": f"The request body is over the limit of {LIMIT} bytes.",
    }


async def test_a_streamed_body_over_the_limit_is_413(small_client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"subject": "s", "recipients": [{"email": "a@example.com"}], "html": "'
        for _ in range(1000):  # 1 MB if it were all read
            sent += 1
            yield b"x" * 1000
        yield b'"}'

    answer = await small_client.post("/render", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"] == "PayloadTooLarge"
    assert "content-length" not in {k.lower() for k in answer.request.headers}  # really sent without a length
    assert sent < 10  # the read stopped just past the limit: the rest was never pulled


async def test_the_limit_applies_to_saving_too(small_client: httpx.AsyncClient) -> None:
    answer = await small_client.put("/templates/big", json={"subject": "s", "html": "x" * LIMIT})
    assert answer.status_code == 413
