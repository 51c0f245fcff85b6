"""Template service rules with a fake store (no network): validate before storing, pinned versions served from cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from herald_template.rendering import (
    InvalidTemplate,
    Recipient,
    RenderedEmail,
    RenderLimits,
    SandboxRenderer,
    TemplateSource,
)
from herald_template.templates.errors import TemplateNotFound, TooManyRecipients
from herald_template.templates.service import TemplateService

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from herald_template.templates.models import TemplateSummary, TemplateVersion


class FakeStore:
    def __init__(self) -> None:
        self.saved: dict[tuple[str, str], list[TemplateVersion]] = {}
        self.reads = 0

    async def get(self, tenant_id: str, template_id: str, version: int | None = None) -> TemplateVersion:
        self.reads += 1
        versions = self.saved.get((tenant_id, template_id), [])
        found = [v for v in versions if version in (None, v.version)]
        if not found:
            raise TemplateNotFound(template_id)
        return found[-1]

    async def versions(self, tenant_id: str, template_id: str) -> list[int]:
        return [v.version for v in self.saved.get((tenant_id, template_id), [])]

    async def create_version(
        self, tenant_id: str, template_id: str, build: Callable[[int, str], TemplateVersion]
    ) -> TemplateVersion:
        versions = self.saved.setdefault((tenant_id, template_id), [])
        versions.append(build(len(versions) + 1, "2026-01-01T00:00:00.000Z"))
        return versions[-1]

    async def list_templates(self, tenant_id: str) -> list[TemplateSummary]:
        return []


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def service(store: FakeStore) -> Iterator[TemplateService]:
    renderer = SandboxRenderer(RenderLimits())
    yield TemplateService(store, renderer, max_recipients=3)
    renderer.close()


async def test_a_broken_template_is_never_stored(service: TemplateService, store: FakeStore) -> None:
    with pytest.raises(InvalidTemplate):
        await service.save("acme", "t", name=None, subject="s", html="{% if %}", text=None)
    assert store.saved == {}


async def test_every_save_is_a_new_version(service: TemplateService) -> None:
    first = await service.save("acme", "t", name=None, subject="s", html="v1", text=None)
    second = await service.save("acme", "t", name="Named", subject="s", html="v2", text=None)
    assert (first.version, first.name, second.version, second.name) == (1, "t", 2, "Named")


async def test_a_pinned_version_is_read_from_the_store_once(service: TemplateService, store: FakeStore) -> None:
    await service.save("acme", "t", name=None, subject="s", html="<p>{{ n }}</p>", text=None)
    for n in range(3):
        outcome = await service.render("acme", "t", 1, [Recipient("a@example.com", {"n": n})])
        result = outcome.results[0]
        assert isinstance(result, RenderedEmail)
        assert result.html == f"<p>{n}</p>"
    assert store.reads == 1


async def test_the_latest_version_is_looked_up_each_time(service: TemplateService, store: FakeStore) -> None:
    await service.save("acme", "t", name=None, subject="s", html="one", text=None)
    assert (await service.render("acme", "t", None, [Recipient("a@example.com")])).version == 1
    await service.save("acme", "t", name=None, subject="s", html="two", text=None)
    outcome = await service.render("acme", "t", None, [Recipient("a@example.com")])
    assert outcome.version == 2
    assert isinstance(outcome.results[0], RenderedEmail)
    assert outcome.results[0].html == "two"


async def test_cached_templates_do_not_cross_tenants(service: TemplateService) -> None:
    await service.save("acme", "t", name=None, subject="s", html="acme's", text=None)
    await service.render("acme", "t", 1, [Recipient("a@example.com")])  # now compiled and cached
    with pytest.raises(TemplateNotFound):
        await service.render("globex", "t", 1, [Recipient("a@example.com")])


async def test_recipient_count_is_bounded(service: TemplateService) -> None:
    with pytest.raises(TooManyRecipients):
        await service.render_inline("acme", TemplateSource("s", "h"), [Recipient(f"{i}@example.com") for i in range(4)])
