"""The sandbox: Jinja2 templates rendered under time, size and work bounds, off the event loop."""

from herald_template.rendering.engine import (
    CompiledTemplate,
    Recipient,
    RenderedEmail,
    RenderEngine,
    RenderFailure,
    RenderResult,
    TemplateSource,
)
from herald_template.rendering.errors import InvalidTemplate, RenderLimitExceeded, TemplateTooLarge, UnsafeTemplate
from herald_template.rendering.meter import RenderLimits
from herald_template.rendering.runner import SandboxRenderer

__all__ = [
    "CompiledTemplate",
    "InvalidTemplate",
    "Recipient",
    "RenderEngine",
    "RenderFailure",
    "RenderLimitExceeded",
    "RenderLimits",
    "RenderResult",
    "RenderedEmail",
    "SandboxRenderer",
    "TemplateSource",
    "TemplateTooLarge",
    "UnsafeTemplate",
]
