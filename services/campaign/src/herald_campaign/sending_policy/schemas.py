"""Sending policy bodies. The stored JSON is what the processor reads (README "Sending policy")."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_PER_MINUTE = 1_000_000
MAX_PER_HOUR = 60_000_000


class ProviderName(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    YAHOO = "yahoo"
    APPLE = "apple"
    OTHER = "other"


class ProviderLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    per_minute: int | None = Field(default=None, alias="perMinute", ge=1, le=MAX_PER_MINUTE)
    per_hour: int | None = Field(default=None, alias="perHour", ge=1, le=MAX_PER_HOUR)


class Warmup(BaseModel):
    """The ramp of a new sending domain: day 0 (its first send) allows `startPerDay`, each day after multiplies the
    allowance by `dailyGrowth`, until it reaches the account's daily quota."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    enabled: bool = True
    start_per_day: int = Field(default=50, alias="startPerDay", ge=1, le=10_000_000)
    daily_growth: float = Field(default=2.0, alias="dailyGrowth", gt=1.0, le=10.0)


class SendingPolicy(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "providers": {"google": {"perMinute": 600, "perHour": 20000}, "microsoft": {"perMinute": 300}},
                    "warmup": {"enabled": True, "startPerDay": 50, "dailyGrowth": 2.0},
                }
            ]
        },
    )

    providers: dict[ProviderName, ProviderLimit] = Field(default_factory=dict)
    warmup: Warmup | None = None
