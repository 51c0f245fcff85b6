"""Audit trail bodies (camelCase on the wire)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditRecordView(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    record_id: str = Field(alias="recordId", description="Unique, ordered by time.")
    time: str = Field(description="When the call was answered (ISO-8601, UTC).")
    actor: str = Field(description="The token's subject, or `unsubscribe-link` for the public link.")
    action: str = Field(description="e.g. `campaign.send`, `suppression.remove`, `template.save`.")
    target: str | None = Field(default=None, description="The campaign id, address or template id acted on.")
    outcome: str = Field(description="`succeeded` or `failed`.")
    status: int = Field(description="The HTTP status answered.")
    error: str | None = Field(default=None, description="The error code of a failed call.")
    request_id: str | None = Field(default=None, alias="requestId")
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "recordId": "2026-11-28T10:00:00.000000Z#4f2a9c",
                            "time": "2026-11-28T10:00:00.000000Z",
                            "actor": "ada@acme.example",
                            "action": "campaign.send",
                            "target": "camp_0190f3a2b4c5d6e7f8a9",
                            "outcome": "succeeded",
                            "status": 202,
                            "error": None,
                            "requestId": "5b1d0c3e8f6a4e2d",
                            "details": {},
                        }
                    ],
                    "nextToken": None,
                }
            ]
        },
    )

    records: list[AuditRecordView]
    next_token: str | None = Field(alias="nextToken")
