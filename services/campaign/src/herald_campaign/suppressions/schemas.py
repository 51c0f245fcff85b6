"""Suppression list bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald_campaign.campaigns.intake import normalise_address


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"


class SuppressionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com", "reason": "manual"}]}
    )

    email: str = Field(max_length=320)
    reason: SuppressionReason = SuppressionReason.MANUAL

    @field_validator("email")
    @classmethod
    def _valid(cls, value: str) -> str:
        if normalise_address(value) is None:
            raise ValueError("is not a valid email address")
        return value


_SUPPRESSION_EXAMPLE: dict[str, Any] = {
    "email": "ada@example.com",
    "reason": "bounce",
    "campaignId": "camp_0190f3a2b4c5d6e7f8a9",
    "createdAt": "2026-03-01T09:12:00.000Z",
}


class SuppressionView(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True, serialize_by_alias=True, json_schema_extra={"examples": [_SUPPRESSION_EXAMPLE]}
    )

    email: str
    reason: str
    campaign_id: str | None = Field(default=None, alias="campaignId")
    created_at: str = Field(alias="createdAt")


class SuppressionPage(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={"examples": [{"suppressions": [_SUPPRESSION_EXAMPLE], "nextToken": None}]},
    )

    suppressions: list[SuppressionView]
    next_token: str | None = Field(alias="nextToken")
