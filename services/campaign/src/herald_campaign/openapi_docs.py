"""What the OpenAPI document (`/docs`) shows for the campaign service's errors: the SPEC's `{error, detail}` shape and
one example per status a route can answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """The SPEC's error shape, shared by every 4xx and 5xx answer."""

    error: str = Field(description="A stable error code, e.g. `CampaignNotFound`, `InvalidTransition`.")
    detail: str = Field(description="A human sentence.")
    fields: list[str] | None = Field(default=None, description="For a body that does not validate: the fields.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": "CampaignNotFound", "detail": "Campaign 'camp_…' does not exist."}]}
    )


def error(description: str, code: str, detail: str) -> dict[str, Any]:
    """One documented error answer."""
    return {
        "model": ErrorOut,
        "description": description,
        "content": {"application/json": {"example": {"error": code, "detail": detail}}},
    }


UNAUTHORIZED = error("No token, or a bad one", "Unauthorized", "A bearer token is required.")
FORBIDDEN = error("The caller's role may not do this", "Forbidden", "This action needs the 'marketer' role.")
NOT_FOUND = error(
    "Unknown campaign (another tenant's answers the same)",
    "CampaignNotFound",
    "Campaign 'camp_0190f3a2b4c5d6e7f8a9' does not exist.",
)
INVALID = error(
    "A body or parameter that does not validate (the field is named)",
    "ValidationError",
    "body.fromAddress: value is not a valid email address",
)
NOT_DRAFT = error(
    "The campaign is not a draft any more", "CampaignNotDraft", "Only a draft can be changed; this one is sending."
)
TOO_LARGE = error(
    "Too many recipients in one request",
    "PayloadTooLarge",
    "At most 10000 recipients inline; upload more with POST /campaigns/{id}/recipients.",
)
TRANSITION = error(
    "The transition does not apply to the campaign's status", "InvalidTransition", "A sent campaign cannot be paused."
)


def errors(*answers: tuple[int, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses`: 401 and 422 always, plus the given (status, error) pairs."""
    documented: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 422: INVALID}
    documented.update(answers)
    return documented
