"""The S3 template store against the emulator: key layout, gzip, versioning under concurrency, tenant isolation."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import TYPE_CHECKING

import pytest

from herald_common.errors import Forbidden
from herald_template.templates.errors import TemplateNotFound
from herald_template.templates.models import TemplateVersion
from herald_template.templates.repository import GZIP_THRESHOLD_BYTES, S3TemplateStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_aiobotocore_s3 import S3Client

    from herald_template.config import Settings


@pytest.fixture
def store(s3: S3Client, template_settings: Settings) -> S3TemplateStore:
    return S3TemplateStore(s3, template_settings.resources.bucket)


def version_of(template_id: str, html: str = "<p>x</p>") -> Callable[[int, str], TemplateVersion]:
    def build(version: int, created_at: str) -> TemplateVersion:
        return TemplateVersion(template_id, version, "Name", "Subject", html, None, created_at)

    return build


async def test_versions_are_stored_under_the_documented_keys(
    store: S3TemplateStore, s3: S3Client, template_settings: Settings, tenant: str
) -> None:
    first = await store.create_version(tenant, "news", version_of("news"))
    second = await store.create_version(tenant, "news", version_of("news", "<p>v2</p>"))
    assert (first.version, second.version) == (1, 2)
    key = f"templates/{tenant}/news/v000002.json"
    obj = await s3.get_object(Bucket=template_settings.resources.bucket, Key=key)
    doc = json.loads(await obj["Body"].read())
    assert doc == {
        "templateId": "news",
        "version": 2,
        "name": "Name",
        "subject": "Subject",
        "html": "<p>v2</p>",
        "text": None,
        "createdAt": second.created_at,
    }
    assert await store.versions(tenant, "news") == [1, 2]
    assert (await store.get(tenant, "news")).html == "<p>v2</p>"
    assert (await store.get(tenant, "news", 1)).html == "<p>x</p>"


async def test_large_templates_are_gzipped(
    store: S3TemplateStore, s3: S3Client, template_settings: Settings, tenant: str
) -> None:
    html = "<p>" + "lorem ipsum " * (GZIP_THRESHOLD_BYTES // 6) + "</p>"
    await store.create_version(tenant, "big", version_of("big", html))
    key = f"templates/{tenant}/big/v000001.json"
    head = await s3.head_object(Bucket=template_settings.resources.bucket, Key=key)
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentLength"] < len(html) // 4
    raw = await (await s3.get_object(Bucket=template_settings.resources.bucket, Key=key))["Body"].read()
    assert json.loads(gzip.decompress(raw))["html"] == html
    assert (await store.get(tenant, "big")).html == html


async def test_concurrent_saves_never_share_a_version(store: S3TemplateStore, tenant: str) -> None:
    saved = await asyncio.gather(*(store.create_version(tenant, "race", version_of("race", f"{i}")) for i in range(4)))
    assert sorted(s.version for s in saved) == [1, 2, 3, 4]
    stored = {(await store.get(tenant, "race", s.version)).html for s in saved}
    assert stored == {"0", "1", "2", "3"}  # nothing was overwritten


async def test_unknown_template_or_version(store: S3TemplateStore, tenant: str) -> None:
    with pytest.raises(TemplateNotFound):
        await store.get(tenant, "nope")
    await store.create_version(tenant, "one", version_of("one"))
    with pytest.raises(TemplateNotFound):
        await store.get(tenant, "one", 7)


async def test_tenants_are_isolated(store: S3TemplateStore, tenant: str) -> None:
    await store.create_version(tenant, "shared-name", version_of("shared-name"))
    await store.create_version(f"{tenant}-2", "other", version_of("other"))
    with pytest.raises(TemplateNotFound):
        await store.get(f"{tenant}x", "shared-name")
    assert [s.template_id for s in await store.list_templates(tenant)] == ["shared-name"]
    assert [s.template_id for s in await store.list_templates(f"{tenant}-2")] == ["other"]
    assert await store.list_templates(f"{tenant}x") == []


async def test_list_reports_versions_and_latest(store: S3TemplateStore, tenant: str) -> None:
    for _ in range(3):
        await store.create_version(tenant, "b", version_of("b"))
    await store.create_version(tenant, "a", version_of("a"))
    listed = await store.list_templates(tenant)
    assert [(s.template_id, s.versions, s.latest_version) for s in listed] == [("a", (1,), 1), ("b", (1, 2, 3), 3)]
    assert listed[0].updated_at.endswith("Z")


async def test_a_tenant_id_cannot_escape_its_prefix(store: S3TemplateStore, tenant: str) -> None:
    with pytest.raises(Forbidden):
        await store.list_templates(f"{tenant}/../other")
    with pytest.raises(Forbidden):
        await store.get("", "x")
