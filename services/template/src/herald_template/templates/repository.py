"""Templates on S3: `templates/{tenantId}/{templateId}/v{version:06d}.json` (docs/architecture.md).

Every save is a new object; nothing is overwritten. The next version is the highest existing one plus one, written
with a conditional put (`If-None-Match: *`), so two concurrent saves can never both claim one number: the loser
lists again and takes the next (S3 answers 412 `PreconditionFailed`; the emulator does too).
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_common.errors import Forbidden
from herald_template.templates.errors import TemplateNotFound, VersionConflict
from herald_template.templates.models import TEMPLATE_ID_PATTERN, TemplateSummary, TemplateVersion

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_aiobotocore_s3 import S3Client

# Bodies above this are stored gzipped with `ContentEncoding: gzip` (the flow document's "compress large templates").
GZIP_THRESHOLD_BYTES = 16 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TEMPLATE_ID = re.compile(TEMPLATE_ID_PATTERN)
_VERSION_KEY = re.compile(r"/v(\d{6,})\.json$")
_PUT_ATTEMPTS = 5
_CONDITIONAL_CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _prefix(tenant_id: str, template_id: str | None = None) -> str:
    # The tenant id is the key's isolation boundary: a '/' in it would let one tenant list another's keys.
    if not _TENANT_ID.match(tenant_id):
        raise Forbidden("The token's tenant id is not a valid Herald tenant id.")
    if template_id is not None and not _TEMPLATE_ID.match(template_id):
        raise TemplateNotFound(f"Template '{template_id}' was not found.")
    return f"templates/{tenant_id}/" if template_id is None else f"templates/{tenant_id}/{template_id}/"


def template_key(tenant_id: str, template_id: str, version: int) -> str:
    return f"{_prefix(tenant_id, template_id)}v{version:06d}.json"


def encode_document(doc: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The object body and the extra put arguments (gzip for large documents)."""
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > GZIP_THRESHOLD_BYTES:
        return gzip.compress(body, mtime=0), {"ContentEncoding": "gzip"}
    return body, {}


def decode_document(body: bytes) -> dict[str, Any]:
    # Check the bytes, not the header: some HTTP stacks decompress a gzip Content-Encoding on the way in.
    if body.startswith(_GZIP_MAGIC):
        body = gzip.decompress(body)
    doc: dict[str, Any] = json.loads(body)
    return doc


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class S3TemplateStore:
    """The `TemplateStore` port on S3. Every method is scoped to one tenant."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    async def _keys(self, prefix: str) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            objects.extend(dict(obj) for obj in page.get("Contents", []))
        return objects

    async def versions(self, tenant_id: str, template_id: str) -> list[int]:
        """The saved version numbers of one template, ascending (empty when it does not exist)."""
        keys = await self._keys(_prefix(tenant_id, template_id))
        return sorted(int(m.group(1)) for obj in keys if (m := _VERSION_KEY.search(obj["Key"])))

    async def get(self, tenant_id: str, template_id: str, version: int | None = None) -> TemplateVersion:
        """One version (the latest when `version` is None). Raises `TemplateNotFound`."""
        if version is None:
            known = await self.versions(tenant_id, template_id)
            if not known:
                raise TemplateNotFound(f"Template '{template_id}' was not found.")
            version = known[-1]
        try:
            response = await self._s3.get_object(Bucket=self._bucket, Key=template_key(tenant_id, template_id, version))
            async with response["Body"] as stream:
                body = await stream.read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise TemplateNotFound(f"Template '{template_id}' has no version {version}.") from exc
            raise
        return TemplateVersion.from_document(decode_document(body))

    async def create_version(
        self, tenant_id: str, template_id: str, build: Callable[[int, str], TemplateVersion]
    ) -> TemplateVersion:
        """Store `build(next_version, created_at)` as a new version; never overwrites an existing one."""
        for _ in range(_PUT_ATTEMPTS):
            known = await self.versions(tenant_id, template_id)
            saved = build((known[-1] if known else 0) + 1, _iso(datetime.now(UTC)))
            body, extra = encode_document(saved.to_document())
            try:
                await self._s3.put_object(
                    Bucket=self._bucket,
                    Key=template_key(tenant_id, template_id, saved.version),
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                    **extra,  # type: ignore[arg-type]
                )
            except ClientError as exc:
                if _code(exc) in _CONDITIONAL_CONFLICTS:
                    continue  # another save took this number: list again
                raise
            return saved
        raise VersionConflict(f"Template '{template_id}' is being saved concurrently; try again.")

    async def list_templates(self, tenant_id: str) -> list[TemplateSummary]:
        """Every template of the tenant with its version numbers, ordered by template id."""
        versions: dict[str, list[tuple[int, str]]] = {}
        prefix = _prefix(tenant_id)
        for obj in await self._keys(prefix):
            template_id, _, name = obj["Key"][len(prefix) :].partition("/")
            if match := _VERSION_KEY.search("/" + name):
                versions.setdefault(template_id, []).append((int(match.group(1)), _iso(obj["LastModified"])))
        summaries = []
        for template_id in sorted(versions):
            found = sorted(versions[template_id])
            summaries.append(TemplateSummary(template_id, tuple(v for v, _ in found), found[-1][1]))
        return summaries

    async def check(self) -> None:
        """Readiness: the bucket answers."""
        await self._s3.head_bucket(Bucket=self._bucket)
