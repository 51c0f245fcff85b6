"""The sender-authentication result as the API shows it (on the campaign, and from its own route)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CheckView(BaseModel):
    status: str = Field(description="`pass`, `fail`, or `error` (the lookup itself failed)")
    detail: str


class SenderAuthenticationView(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    domain: str
    status: str = Field(description="`pass`, `fail`, or `skipped` (HERALD_SENDER_AUTH=off)")
    mode: str = Field(description="`enforce` (a failure blocks sending), `warn` or `off`")
    checked_at: str = Field(alias="checkedAt")
    checks: dict[str, CheckView] = Field(description="`identity`, `spf`, `dkim`, `dmarc`")
