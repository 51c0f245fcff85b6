"""Template decisions: validate before storing, version every save, render stored or inline templates per recipient."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from herald_template.rendering import TemplateSource
from herald_template.templates.errors import TooManyRecipients
from herald_template.templates.models import TemplateVersion

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Sequence

    from herald_template.rendering import CompiledTemplate, Recipient, RenderResult
    from herald_template.templates.models import TemplateSummary


class TemplateStore(Protocol):
    """Where template versions live (S3 in production). Every method is scoped to one tenant."""

    async def get(self, tenant_id: str, template_id: str, version: int | None = None) -> TemplateVersion:
        """One version, the latest when `version` is None; raises `TemplateNotFound`."""
        ...

    async def versions(self, tenant_id: str, template_id: str) -> list[int]:
        """The template's version numbers, ascending; empty when it does not exist."""
        ...

    async def create_version(
        self, tenant_id: str, template_id: str, build: Callable[[int, str], TemplateVersion]
    ) -> TemplateVersion:
        """Store `build(next_version, created_at)` as a new version, never overwriting one."""
        ...

    async def list_templates(self, tenant_id: str) -> list[TemplateSummary]:
        """The tenant's templates with their version numbers."""
        ...


class TemplateRenderer(Protocol):
    """Compiles and renders in the sandbox (off the event loop)."""

    def cached(self, cache_key: Hashable) -> CompiledTemplate | None:
        """A template compiled earlier under this key, if still cached."""
        ...

    async def compile(self, source: TemplateSource, cache_key: Hashable | None = None) -> CompiledTemplate:
        """Validate and compile; raises a 422 error naming the part and line."""
        ...

    async def render(
        self, compiled: CompiledTemplate, recipients: Sequence[Recipient], cache_key: Hashable | None = None
    ) -> list[RenderResult]:
        """One result per recipient, in order."""
        ...


@dataclass(frozen=True)
class RenderOutcome:
    template_id: str | None
    version: int | None
    results: list[RenderResult]


class TemplateService:
    def __init__(self, store: TemplateStore, renderer: TemplateRenderer, *, max_recipients: int) -> None:
        self._store = store
        self._renderer = renderer
        self._max_recipients = max_recipients

    async def save(
        self, tenant_id: str, template_id: str, *, name: str | None, subject: str, html: str, text: str | None
    ) -> TemplateVersion:
        """Validate (compiles, within the size limit, nothing unsafe) and store as the next version."""
        await self._renderer.compile(TemplateSource(subject, html, text))

        def build(version: int, created_at: str) -> TemplateVersion:
            return TemplateVersion(template_id, version, name or template_id, subject, html, text, created_at)

        return await self._store.create_version(tenant_id, template_id, build)

    async def get(self, tenant_id: str, template_id: str, version: int | None) -> tuple[TemplateVersion, list[int]]:
        """One version (latest by default) and every version number of the template."""
        found = await self._store.get(tenant_id, template_id, version)
        return found, await self._store.versions(tenant_id, template_id)

    async def list_templates(self, tenant_id: str) -> list[TemplateSummary]:
        return await self._store.list_templates(tenant_id)

    async def render(
        self, tenant_id: str, template_id: str, version: int | None, recipients: Sequence[Recipient]
    ) -> RenderOutcome:
        """Render a stored version (the latest by default) for each recipient."""
        self._check_count(recipients)
        compiled, version = await self._compiled(tenant_id, template_id, version)
        results = await self._renderer.render(compiled, recipients, ("stored", tenant_id, template_id, version))
        return RenderOutcome(template_id, version, results)

    async def render_inline(
        self, tenant_id: str, source: TemplateSource, recipients: Sequence[Recipient]
    ) -> RenderOutcome:
        """Render a template given in the request (previews, other teams); nothing is stored."""
        self._check_count(recipients)
        digest = hashlib.sha256("\x00".join((source.subject, source.html, source.text or "\x01")).encode()).hexdigest()
        key = ("inline", tenant_id, digest)
        compiled = self._renderer.cached(key) or await self._renderer.compile(source, key)
        return RenderOutcome(None, None, await self._renderer.render(compiled, recipients, key))

    async def _compiled(self, tenant_id: str, template_id: str, version: int | None) -> tuple[CompiledTemplate, int]:
        # A pinned version is immutable: once compiled it is served without reading S3 (the processor always pins).
        if version is not None and (hit := self._renderer.cached(("stored", tenant_id, template_id, version))):
            return hit, version
        stored = await self._store.get(tenant_id, template_id, version)
        source = TemplateSource(stored.subject, stored.html, stored.text)
        compiled = await self._renderer.compile(source, ("stored", tenant_id, template_id, stored.version))
        return compiled, stored.version

    def _check_count(self, recipients: Sequence[Recipient]) -> None:
        if len(recipients) > self._max_recipients:
            raise TooManyRecipients(
                f"recipients: at most {self._max_recipients} per render call, got {len(recipients)}."
            )
