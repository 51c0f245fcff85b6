"""The template service, seen from the campaign service: only the latest version of a template, to pin it at send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from herald_campaign.campaigns.errors import TemplateNotFound, TemplateServiceUnavailable

if TYPE_CHECKING:
    from herald_common.errors import HeraldError


def latest_version_of(body: Any) -> int | None:
    """The latest version in a `GET /templates/{id}` answer: `version`, `latestVersion`, or the highest of
    `versions` (numbers or objects with `version`)."""
    if not isinstance(body, dict):
        return None
    for key in ("latestVersion", "version"):
        if isinstance(body.get(key), int) and not isinstance(body.get(key), bool):
            return int(body[key])
    versions = body.get("versions")
    if isinstance(versions, list):
        numbers = [v.get("version") if isinstance(v, dict) else v for v in versions]
        ints = [n for n in numbers if isinstance(n, int) and not isinstance(n, bool)]
        if ints:
            return max(ints)
    return None


class HttpTemplateCatalog:
    """The `TemplateCatalog` port over a pooled `httpx.AsyncClient` whose base URL is the template service."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def latest_version(self, template_id: str, authorization: str | None) -> int:
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await self._client.get(f"/templates/{quote(template_id, safe='')}", headers=headers)
        except httpx.HTTPError as exc:
            raise TemplateServiceUnavailable("The template service cannot be reached; try again.") from exc
        if response.status_code == 404:
            raise TemplateNotFound(f"Template '{template_id}' does not exist.")
        if response.status_code >= 400:
            raise _upstream_error(response.status_code, template_id)
        try:
            version = latest_version_of(response.json())
        except ValueError:
            version = None
        if version is None:
            raise TemplateServiceUnavailable("The template service gave no version for this template.")
        return version


def _upstream_error(status: int, template_id: str) -> HeraldError:
    if status in (401, 403):
        # The caller's own token was refused by the template service: from their side the template is not there.
        return TemplateNotFound(f"Template '{template_id}' is not available to this account.")
    return TemplateServiceUnavailable(f"The template service answered {status}; try again.")
