"""Errors the sandbox raises. Each one is a domain error, so the API renders it as a 422 without translation."""

from __future__ import annotations

from herald_common.errors import Unprocessable


class InvalidTemplate(Unprocessable):
    """The source does not compile (the detail names the part and the line)."""

    code = "InvalidTemplate"


class TemplateTooLarge(Unprocessable):
    """The source is over the configured size limit."""

    code = "TemplateTooLarge"


class UnsafeTemplate(Unprocessable):
    """The template reached for Python internals the sandbox forbids."""

    code = "UnsafeTemplate"


class RenderLimitExceeded(Unprocessable):
    """Rendering went over a time, output or operation-size bound: the template can exhaust the service."""

    code = "RenderLimitExceeded"
