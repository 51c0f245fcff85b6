"""The template service, seen from the campaign service: only the latest version of a template, to pin it at send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from herald_campaign.campaigns.errors import TemplateNotFound, TemplateServiceUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

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

    async def render(
        self, template_id: str, version: int | None, recipients: Sequence[dict[str, Any]], authorization: str | None
    ) -> list[dict[str, Any]]:
        """`POST /templates/{id}/render` with the caller's token; one result per recipient, in order. A template the
        service refuses as a whole (422) fails every recipient with its detail."""
        headers = {"Authorization": authorization} if authorization else {}
        body: dict[str, Any] = {"recipients": list(recipients)}
        if version is not None:
            body["version"] = version
        try:
            response = await self._client.post(
                f"/templates/{quote(template_id, safe='')}/render", json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise TemplateServiceUnavailable("The template service cannot be reached; try again.") from exc
        if response.status_code == 404:
            raise TemplateNotFound(f"Template '{template_id}' does not exist.")
        if response.status_code == 422:
            detail = _detail(response)
            return [{"email": r["email"], "error": detail} for r in recipients]
        if response.status_code >= 400:
            raise _upstream_error(response.status_code, template_id)
        try:
            results = response.json().get("results")
        except (ValueError, AttributeError):
            results = None
        if not isinstance(results, list) or len(results) != len(recipients):
            raise TemplateServiceUnavailable("The template service answered a malformed render result.")
        return [r if isinstance(r, dict) else {"error": "malformed render result"} for r in results]


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


def _upstream_error(status: int, template_id: str) -> HeraldError:
    if status in (401, 403):
        # The caller's own token was refused by the template service: from their side the template is not there.
        return TemplateNotFound(f"Template '{template_id}' is not available to this account.")
    return TemplateServiceUnavailable(f"The template service answered {status}; try again.")
