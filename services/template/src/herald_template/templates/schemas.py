"""The template service's request and response bodies (camelCase on the wire, as SPEC.md shows them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic.alias_generators import to_camel

from herald_common.headers import header_problem
from herald_common.json_depth import check_depth
from herald_template.rendering import Recipient, RenderedEmail, TemplateSource

if TYPE_CHECKING:
    from herald_template.templates.models import TemplateSummary, TemplateVersion
    from herald_template.templates.service import RenderOutcome


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def _header_safe(value: str) -> str:
    # The subject becomes an email header: CR, LF or NUL there would let the template add headers of its own.
    if (problem := header_problem(value)) is not None:
        raise ValueError(f"must not contain line breaks or NUL: it {problem}")
    return value


_HTML_EXAMPLE = '<p>Hello {{ first_name }},</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


class TemplateIn(Schema):
    name: str | None = Field(default=None, max_length=200, description="Display name (default: the template id).")
    subject: str = Field(min_length=1, description="Jinja2 template of the subject line (not HTML-escaped).")
    html: str = Field(min_length=1, description="Jinja2 template of the HTML body (autoescaped).")
    text: str | None = Field(
        default=None, description="Jinja2 template of the text part; generated from the HTML if absent."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Spring newsletter", "subject": "Hi {{ first_name }}", "html": _HTML_EXAMPLE}]
        }
    )

    _subject = field_validator("subject")(_header_safe)

    def source(self) -> TemplateSource:
        return TemplateSource(self.subject, self.html, self.text)


class ErrorOut(BaseModel):
    """The SPEC's error shape, shared by every 4xx and 5xx answer."""

    error: str = Field(description="A stable error code, e.g. `TemplateNotFound`, `UnsafeTemplate`.")
    detail: str = Field(description="A human sentence; for a template error it names the part and the line.")
    fields: list[str] | None = Field(default=None, description="For a body that does not validate: the fields.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": "InvalidTemplate", "detail": "html line 3: unexpected '}'"}],
        }
    )


class TemplateSaved(Schema):
    template_id: str
    version: int

    model_config = ConfigDict(json_schema_extra={"examples": [{"templateId": "newsletter", "version": 3}]})


class TemplateOut(Schema):
    template_id: str
    version: int
    name: str
    subject: str
    html: str
    text: str | None
    created_at: str
    versions: list[int] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "templateId": "newsletter",
                    "version": 3,
                    "name": "Spring newsletter",
                    "subject": "Hi {{ first_name }}",
                    "html": _HTML_EXAMPLE,
                    "text": None,
                    "createdAt": "2026-03-01T09:30:00.000Z",
                    "versions": [1, 2, 3],
                }
            ]
        }
    )

    @classmethod
    def of(cls, found: TemplateVersion, versions: list[int] | None = None) -> TemplateOut:
        return cls(
            template_id=found.template_id,
            version=found.version,
            name=found.name,
            subject=found.subject,
            html=found.html,
            text=found.text,
            created_at=found.created_at,
            versions=versions,
        )


class TemplateListItem(Schema):
    template_id: str
    latest_version: int
    versions: list[int]
    updated_at: str


class TemplateList(Schema):
    templates: list[TemplateListItem]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "templates": [
                        {
                            "templateId": "newsletter",
                            "latestVersion": 3,
                            "versions": [1, 2, 3],
                            "updatedAt": "2026-03-01T09:30:00.000Z",
                        }
                    ]
                }
            ]
        }
    )

    @classmethod
    def of(cls, summaries: list[TemplateSummary]) -> TemplateList:
        return cls(
            templates=[
                TemplateListItem(
                    template_id=s.template_id,
                    latest_version=s.latest_version,
                    versions=list(s.versions),
                    updated_at=s.updated_at,
                )
                for s in summaries
            ]
        )


class RecipientIn(Schema):
    email: str = Field(min_length=3, max_length=320, description="Available to the template as `email`.")
    data: dict[str, Any] | None = Field(default=None, description="Template variables (top-level names).")
    unsubscribe_url: str | None = Field(
        default=None, max_length=2048, description="Available as `unsubscribe_url` (default `#unsubscribe`)."
    )

    @field_validator("data")
    @classmethod
    def _shallow_data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_depth(value)

    def recipient(self) -> Recipient:
        return Recipient(self.email, self.data or {}, self.unsubscribe_url)


_RECIPIENTS_EXAMPLE: list[JsonValue] = [
    {"email": "ada@example.com", "data": {"first_name": "Ada"}, "unsubscribeUrl": "https://herald.example/u/abc"},
    {"email": "bob@example.com"},
]


class RenderRequest(Schema):
    recipients: list[RecipientIn] = Field(min_length=1)
    version: int | None = Field(default=None, ge=1, description="The version to render (default: the latest).")

    model_config = ConfigDict(json_schema_extra={"examples": [{"version": 3, "recipients": _RECIPIENTS_EXAMPLE}]})


class InlineRenderRequest(Schema):
    subject: str = Field(min_length=1)
    html: str = Field(min_length=1)
    text: str | None = None
    recipients: list[RecipientIn] = Field(min_length=1)

    _subject = field_validator("subject")(_header_safe)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"subject": "Hi {{ first_name }}", "html": _HTML_EXAMPLE, "recipients": _RECIPIENTS_EXAMPLE}]
        }
    )

    def source(self) -> TemplateSource:
        return TemplateSource(self.subject, self.html, self.text)


class RenderedOut(Schema):
    email: str
    subject: str
    html: str
    text: str


class RenderErrorOut(Schema):
    email: str
    error: str = Field(description="Why this recipient could not be rendered, naming the part and line.")


class RenderResponse(Schema):
    template_id: str | None = Field(description="None for an inline render.")
    version: int | None
    results: list[RenderedOut | RenderErrorOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "templateId": "newsletter",
                    "version": 3,
                    "results": [
                        {
                            "email": "ada@example.com",
                            "subject": "Hi Ada",
                            "html": "<p>Hello Ada,</p>…",
                            "text": "Hello Ada,…",
                        },
                        {"email": "bob@example.com", "error": "subject line 1: 'first_name' is undefined"},
                    ],
                }
            ]
        }
    )

    @classmethod
    def of(cls, outcome: RenderOutcome) -> RenderResponse:
        results: list[RenderedOut | RenderErrorOut] = [
            RenderedOut(email=r.email, subject=r.subject, html=r.html, text=r.text)
            if isinstance(r, RenderedEmail)
            else RenderErrorOut(email=r.email, error=r.error)
            for r in outcome.results
        ]
        return cls(template_id=outcome.template_id, version=outcome.version, results=results)


def render_response_json(outcome: RenderOutcome) -> bytes:
    """A `RenderResponse` as JSON bytes, written straight from the render results.

    The hot path of the render routes: a batch answer carries ~9 KB of html and text per recipient, and building a
    model per recipient, then having FastAPI validate and serialise the answer, cost about half again what this
    does. The results are `RenderedEmail` (`email, subject, html, text`) and `RenderFailure` (`email, error`)
    dataclasses, whose fields are exactly `RenderedOut` and `RenderErrorOut` (a test holds the two to the same
    JSON); the routes still declare `RenderResponse` as their response model for the OpenAPI document.
    """
    body = {"templateId": outcome.template_id, "version": outcome.version, "results": outcome.results}
    return pydantic_core.to_json(body)
