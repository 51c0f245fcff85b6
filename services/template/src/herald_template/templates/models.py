"""The template domain objects shared by the service and its store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TEMPLATE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


@dataclass(frozen=True)
class TemplateVersion:
    """One immutable saved version of a template."""

    template_id: str
    version: int
    name: str
    subject: str
    html: str
    text: str | None
    created_at: str  # ISO-8601 UTC

    def to_document(self) -> dict[str, Any]:
        """The S3 document, as docs/architecture.md fixes it."""
        return {
            "templateId": self.template_id,
            "version": self.version,
            "name": self.name,
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "createdAt": self.created_at,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> TemplateVersion:
        return cls(
            template_id=str(doc["templateId"]),
            version=int(doc["version"]),
            name=str(doc.get("name") or doc["templateId"]),
            subject=str(doc["subject"]),
            html=str(doc["html"]),
            text=None if doc.get("text") is None else str(doc["text"]),
            created_at=str(doc.get("createdAt", "")),
        )


@dataclass(frozen=True)
class TemplateSummary:
    """A template in a tenant's list: its id and its version numbers (the highest is the latest)."""

    template_id: str
    versions: tuple[int, ...]
    updated_at: str

    @property
    def latest_version(self) -> int:
        return self.versions[-1]
