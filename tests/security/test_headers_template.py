"""The template service refuses a subject that would break the email header it becomes (422 naming `subject`)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import httpx
import pytest

from herald_common.auth import mint_token
from herald_template.app import create_app
from herald_template.config import Settings

if TYPE_CHECKING:
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "subject", ["Hi {{ name }}\r\nBcc: victim@example.com", "Hi\nthere", "Hi\x00", "Hi\u2028there", "Hi\x0bthere"]
)
async def test_a_subject_with_cr_lf_or_nul_is_refused_on_save_and_inline_render(
    herald_settings: HeraldSettings, subject: str
) -> None:
    settings = Settings(
        resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=herald_settings.aws_endpoint_url
    )
    app = create_app(settings)
    tenant = "t" + secrets.token_hex(4)
    token = mint_token(settings, tenant_id=tenant, roles=["marketer"])
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://template") as client,
    ):
        saved = await client.put("/templates/news", json={"subject": subject, "html": "<p>x</p>"}, headers=headers)
        assert saved.status_code == 422, saved.text
        assert saved.json()["fields"] == ["subject"]
        assert (await client.get("/templates/news", headers=headers)).status_code == 404  # nothing stored
        inline = await client.post(
            "/render",
            json={"subject": subject, "html": "<p>x</p>", "recipients": [{"email": "a@example.com"}]},
            headers=headers,
        )
        assert inline.status_code == 422
        assert inline.json()["fields"] == ["subject"]
        fine = await client.put(
            "/templates/news", json={"subject": "Hi {{ name }}", "html": "<p>x</p>"}, headers=headers
        )
        assert fine.status_code == 201
