"""`GET /reputation`: the reputation guard's verdict the dashboard's banner shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

_WARNING: dict[str, Any] = {
    "level": "warn",
    "scope": "domain:news.example",
    "window": "1h",
    "reason": "bounce rate 2.60% (26 of 1000) over the last 1h for news.example",
    "at": "2026-12-07T01:00:00Z",
}


class ReputationState(BaseModel):
    """`ok`; `warn` once a 1 h or 24 h window of the tenant (`scope` `tenant`) or of a sending domain (`domain:…`)
    reached half the guard's bounce or complaint limit; `pause` once one reached the limit (its sending campaigns
    were paused). `at` is when the guard last judged it so."""

    model_config = ConfigDict(json_schema_extra={"examples": [_WARNING, {"level": "ok"}]})

    level: Literal["ok", "warn", "pause"]
    scope: str | None = None
    window: str | None = None
    reason: str | None = None
    at: str | None = None
