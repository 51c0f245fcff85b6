"""The sender-authentication result as the API shows it (on the campaign, and from its own route)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CheckView(BaseModel):
    status: str = Field(description="`pass`, `fail`, or `error` (the lookup itself failed)")
    detail: str


class SenderAuthenticationView(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "domain": "example.com",
                    "status": "fail",
                    "mode": "enforce",
                    "checkedAt": "2026-11-28T10:00:00Z",
                    "checks": {
                        "identity": {"status": "pass", "detail": "SES identity example.com is verified"},
                        "spf": {"status": "pass", "detail": "v=spf1 include:amazonses.com ~all"},
                        "dkim": {"status": "pass", "detail": "3 of 3 Easy DKIM CNAMEs published"},
                        "dmarc": {"status": "fail", "detail": "_dmarc.example.com has no DMARC record"},
                    },
                }
            ]
        },
    )

    domain: str
    status: str = Field(description="`pass`, `fail`, or `skipped` (HERALD_SENDER_AUTH=off)")
    mode: str = Field(description="`enforce` (a failure blocks sending), `warn` or `off`")
    checked_at: str = Field(alias="checkedAt")
    checks: dict[str, CheckView] = Field(description="`identity`, `spf`, `dkim`, `dmarc`")
