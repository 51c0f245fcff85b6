"""Request ids: a caller's `X-Request-Id` is kept only when it is short and plain, otherwise Herald makes one.

The id is bound to every log line of the request and stored in its audit record, so a caller-chosen value must not
be able to make either large (a 420,000-character id would make the audit item too big for DynamoDB and repeat
itself on every log line) or carry anything but an identifier. A caller's id is a correlation
label it chose, not a proof of anything: two requests may carry the same one; the audit record's `recordId` is
Herald's own.
"""

from __future__ import annotations

import re
import uuid

MAX_REQUEST_ID = 128
REQUEST_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID}}}")


def accept_request_id(offered: str | None) -> str:
    """`offered` when it is 1–128 characters of `[A-Za-z0-9._-]`, else a new random id (32 hex characters)."""
    if offered is not None and REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex
