"""Templates: read from S3 (flow steps 12–13) and rendered per recipient by the template service (steps 14–15)."""

from __future__ import annotations

import gzip
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import httpx
from botocore.exceptions import ClientError

from herald_processor.domain import (
    RenderedEmail,
    RenderFailure,
    RenderResult,
    Template,
    TemplateMissing,
    TemplateServiceDown,
    TemplateServiceUnavailable,
)
from herald_processor.repository import error_code

if TYPE_CHECKING:
    from collections.abc import Sequence

    from types_aiobotocore_s3 import S3Client

    from herald_processor.schemas import JobRecipient

_CACHE_SIZE = 256
_GZIP_MAGIC = b"\x1f\x8b"


def template_key(tenant_id: str, template_id: str, version: int) -> str:
    return f"templates/{tenant_id}/{template_id}/v{version:06d}.json"


def decode_template_body(body: bytes, content_encoding: str | None) -> dict[str, Any]:
    """The template JSON; large ones are stored gzip-compressed (`ContentEncoding: gzip`)."""
    if (content_encoding or "").lower() == "gzip" or body[:2] == _GZIP_MAGIC:
        body = gzip.decompress(body)
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("a template document is a JSON object")
    return document


class S3TemplateSource:
    """`TemplateSource` on the data bucket. Versions never change once written, so they are cached."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._cache: OrderedDict[tuple[str, str, int], Template] = OrderedDict()

    async def _latest_version(self, tenant_id: str, template_id: str) -> int:
        prefix = f"templates/{tenant_id}/{template_id}/v"
        latest = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                digits = obj["Key"][len(prefix) :].removesuffix(".json")
                if digits.isdigit():
                    latest = max(latest, int(digits))
        if not latest:
            raise TemplateMissing(f"template {template_id!r} has no stored version")
        return latest

    async def get(self, tenant_id: str, template_id: str, version: int | None) -> Template:
        """The stored template (latest version when `version` is None); raises TemplateMissing."""
        if version is None:
            version = await self._latest_version(tenant_id, template_id)
        cache_key = (tenant_id, template_id, version)
        if (cached := self._cache.get(cache_key)) is not None:
            self._cache.move_to_end(cache_key)
            return cached
        try:
            response = await self._s3.get_object(Bucket=self._bucket, Key=template_key(tenant_id, template_id, version))
            async with response["Body"] as stream:
                body = await stream.read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise TemplateMissing(f"template {template_id!r} version {version} not found") from exc
            raise
        try:
            document = decode_template_body(body, response.get("ContentEncoding"))
        except (ValueError, OSError) as exc:  # unreadable stored template: as good as missing
            raise TemplateMissing(f"template {template_id!r} version {version} is unreadable") from exc
        template = Template(template_id=template_id, version=version, subject=str(document.get("subject", "")))
        self._cache[cache_key] = template
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return template


def parse_render_results(payload: Any, expected: int) -> list[RenderResult]:
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        raise TemplateServiceUnavailable("the template service answered a malformed render result")
    parsed: list[RenderResult] = []
    for result in results:
        if not isinstance(result, dict):
            parsed.append(RenderFailure("malformed render result"))
        elif result.get("error") is not None:
            parsed.append(RenderFailure(str(result["error"])[:300]))
        else:
            text = result.get("text")
            parsed.append(
                RenderedEmail(
                    subject=str(result.get("subject") or ""),
                    html=str(result.get("html") or ""),
                    text=str(text) if text else None,
                )
            )
    return parsed


class HttpTemplateRenderer:
    """`TemplateRenderer` over the template service's render route, one call per batch on a pooled client. It
    authenticates with Herald's service key (`HERALD_SERVICE_KEY`) and names the batch's tenant in `X-Herald-Tenant`:
    no user token exists in the processor, and minting one would need the IdP's private key."""

    def __init__(self, client: httpx.AsyncClient, service_key: str) -> None:
        self._client = client
        self._service_key = service_key

    async def render(
        self, tenant_id: str, template: Template, recipients: Sequence[tuple[JobRecipient, str]]
    ) -> list[RenderResult]:
        """One result per (recipient, unsubscribe URL), in order; raises TemplateServiceUnavailable/TemplateMissing."""
        body = {
            "version": template.version,
            "recipients": [{"email": r.email, "data": r.data, "unsubscribeUrl": url} for r, url in recipients],
        }
        try:
            response = await self._client.post(
                f"/templates/{template.template_id}/render",
                json=body,
                headers={"X-API-Key": self._service_key, "X-Herald-Tenant": tenant_id},
            )
        except httpx.HTTPError as exc:
            raise TemplateServiceDown(f"template service unreachable: {exc!r}") from exc
        if response.status_code == 404:
            raise TemplateMissing(f"template service does not know template {template.template_id!r}")
        if response.status_code == 422:
            # The template itself is refused (sandbox, limits): every recipient fails the same way.
            detail = _detail(response)
            return [RenderFailure(detail) for _ in recipients]
        if response.status_code >= 500 or response.status_code == 429:
            raise TemplateServiceDown(f"template service answered {response.status_code}: {_detail(response)}")
        if response.status_code != 200:
            raise TemplateServiceUnavailable(f"template service answered {response.status_code}: {_detail(response)}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise TemplateServiceUnavailable("template service answered non-JSON") from exc
        return parse_render_results(payload, len(recipients))


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:300]
    except ValueError:
        return response.text[:300]
