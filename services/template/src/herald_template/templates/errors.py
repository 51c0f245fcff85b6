"""Template domain errors (the sandbox's own 422s live in `herald_template.rendering.errors`)."""

from __future__ import annotations

from herald_common.errors import Conflict, NotFound, Unprocessable


class TemplateNotFound(NotFound):
    """No such template (or version) for this tenant; another tenant's template answers the same."""

    code = "TemplateNotFound"


class VersionConflict(Conflict):
    """Concurrent saves kept taking the version number this save computed."""

    code = "VersionConflict"


class TooManyRecipients(Unprocessable):
    code = "TooManyRecipients"
