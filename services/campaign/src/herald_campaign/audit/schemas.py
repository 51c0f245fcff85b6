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
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    records: list[AuditRecordView]
    next_token: str | None = Field(alias="nextToken")
