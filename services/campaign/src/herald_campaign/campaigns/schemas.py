"""The campaign routes' request and response bodies (camelCase on the wire, as SPEC.md writes them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from herald_campaign.campaigns.intake import normalise_address
from herald_campaign.campaigns.models import Campaign, CampaignStatus, Priority, utc_now
from herald_campaign.campaigns.rules import check_throttle, parse_send_at
from herald_campaign.senders.schemas import SenderAuthenticationView
from herald_common.headers import header_problem
from herald_common.json_depth import check_depth

if TYPE_CHECKING:
    from datetime import datetime

TEMPLATE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CAMPAIGN_ID_PATTERN = r"^camp_[a-z0-9]{20}$"


def _single_line(value: str | None) -> str | None:
    # CR, LF or NUL in a value that ends up in an email header would let a caller inject headers.
    if value is not None and (problem := header_problem(value)) is not None:
        raise ValueError(f"must not contain line breaks or NUL: it {problem}")
    return value


class RecipientIn(BaseModel):
    email: str = Field(max_length=320)
    data: dict[str, Any] | None = None

    @field_validator("data")
    @classmethod
    def _shallow_data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_depth(value)


class CampaignCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Spring sale",
                    "templateId": "newsletter",
                    "fromAddress": "news@example.com",
                    "fromName": "Acme",
                    "replyTo": "support@example.com",
                    "recipients": [
                        {"email": "ada@example.com", "data": {"first_name": "Ada"}},
                        "bob@example.com",
                    ],
                    "tags": {"team": "growth"},
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    template_id: str = Field(alias="templateId", pattern=TEMPLATE_ID_PATTERN)
    from_address: str = Field(alias="fromAddress", max_length=320)
    from_name: str | None = Field(default=None, alias="fromName", max_length=200)
    reply_to: str | None = Field(default=None, alias="replyTo", max_length=320)
    recipients: list[RecipientIn | str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("name", "from_name")
    @classmethod
    def _no_line_breaks(cls, value: str | None) -> str | None:
        return _single_line(value)

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _single_line(value)
        normalised = normalise_address(value)
        if normalised is None:
            raise ValueError("is not a valid email address")
        return normalised

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not 1 <= len(key) <= 128 or len(tag) > 256:
                raise ValueError("tag keys are 1-128 characters, values at most 256")
        return value


class CampaignUpdate(BaseModel):
    """`PATCH /campaigns/{id}`: the fields given change; `fromName` and `replyTo` may be set to null to clear them."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"name": "Spring sale (final)", "templateId": "newsletter-v2"}]},
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    template_id: str | None = Field(default=None, alias="templateId", pattern=TEMPLATE_ID_PATTERN)
    from_address: str | None = Field(default=None, alias="fromAddress", max_length=320)
    from_name: str | None = Field(default=None, alias="fromName", max_length=200)
    reply_to: str | None = Field(default=None, alias="replyTo", max_length=320)
    tags: dict[str, str] | None = Field(default=None, max_length=50)

    _no_line_breaks = field_validator("name", "from_name")(CampaignCreate._no_line_breaks.__func__)  # type: ignore[attr-defined]
    _address = field_validator("from_address", "reply_to")(CampaignCreate._address.__func__)  # type: ignore[attr-defined]

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else CampaignCreate._tags(value)

    @model_validator(mode="after")
    def _something(self) -> CampaignUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in ("name", "template_id", "from_address", "tags"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{type(self).model_fields[name].alias or name} cannot be null")
        return self

    def changes(self) -> tuple[dict[str, Any], list[str]]:
        """(attributes to set, attributes to remove) in the campaigns table's names."""
        sets: dict[str, Any] = {}
        removes: list[str] = []
        for name in self.model_fields_set:
            attribute = type(self).model_fields[name].alias or name
            value = getattr(self, name)
            if value is None:
                removes.append(attribute)
            else:
                sets[attribute] = value
        return sets, sorted(removes)


class TestSendRequest(BaseModel):
    """`POST /campaigns/{id}/test-send`: up to 10 addresses, and optional personalisation data for every one."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"emails": ["me@example.com"], "data": {"first_name": "Ada"}}]},
    )

    emails: list[str] = Field(min_length=1, max_length=10)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _shallow_data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_depth(value)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        normalised: list[str] = []
        for raw in value:
            _single_line(raw)
            address = normalise_address(raw)
            if address is None:
                raise ValueError(f"{raw!r} is not a valid email address")
            if address not in normalised:
                normalised.append(address)
        return normalised


class TestSent(BaseModel):
    __test__ = False
    email: str
    message_id: str = Field(serialization_alias="messageId")


class TestFailed(BaseModel):
    __test__ = False
    email: str
    error: str


class TestSendResult(BaseModel):
    __test__ = False
    model_config = ConfigDict(
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "campaignId": "camp_0190f3a2b4c5d6e7f8a9",
                    "sent": [{"email": "me@example.com", "messageId": "0100018e1f2a3b4c-5d6e7f80-0000-000000"}],
                    "failed": [{"email": "qa@example.com", "error": "render_error: 'first_name' is undefined"}],
                }
            ]
        },
    )

    campaign_id: str = Field(serialization_alias="campaignId")
    sent: list[TestSent]
    failed: list[TestFailed]


class RetryResult(BaseModel):
    """The answer to retry-failed: how many recipients and batches were re-queued by this call."""

    model_config = ConfigDict(
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "campaignId": "camp_0190f3a2b4c5d6e7f8a9",
                    "status": "sending",
                    "retry": 1,
                    "requeued": 37,
                    "batches": 1,
                }
            ]
        },
    )

    campaign_id: str = Field(serialization_alias="campaignId")
    status: CampaignStatus
    retry: int = Field(description="This call's number for the campaign (1, 2, …): its batches are retry_<n>_…")
    requeued: int
    batches: int


class Throttle(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    emails_per_minute: int | None = Field(default=None, alias="emailsPerMinute", gt=0)
    emails_per_hour: int | None = Field(default=None, alias="emailsPerHour", gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Throttle:
        check_throttle(self.emails_per_minute, self.emails_per_hour)
        return self

    def as_item(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump(by_alias=True).items() if v is not None}


class SendRequest(BaseModel):
    """The flow document's send request: `{campaignId?, sendAt, throttle?, priority?}`."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "campaignId": "camp_0190f3a2b4c5d6e7f8a9",
                    "sendAt": "immediate",
                    "throttle": {"emailsPerMinute": 100, "emailsPerHour": 1000},
                    "priority": "high",
                },
                {"sendAt": "2030-01-15T10:30:00Z", "priority": "low"},
            ]
        },
    )

    send_at: str = Field(default="immediate", alias="sendAt", max_length=64)
    throttle: Throttle | None = None
    priority: Priority = Priority.NORMAL
    campaign_id: str | None = Field(default=None, alias="campaignId")

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: str) -> str:
        parse_send_at(value, utc_now())  # raises ValueError: 422 naming sendAt
        return value

    def send_at_time(self, now: datetime) -> datetime | None:
        return parse_send_at(self.send_at, now)


class StatusChange(BaseModel):
    """The answer to send, pause, resume and cancel."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"campaignId": "camp_0190f3a2b4c5d6e7f8a9", "status": "sending"}]}
    )

    campaign_id: str = Field(serialization_alias="campaignId")
    status: CampaignStatus


class RecipientsAdded(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"accepted": 998, "invalid": 1, "duplicates": 1, "total": 1000}]}
    )

    accepted: int
    invalid: int
    duplicates: int
    total: int


class CampaignCounts(BaseModel):
    recipients: int = Field(description="Recipients submitted: stored (valid, unique) plus rejected as invalid.")
    accepted: int = Field(description="Stored recipients: what the processor works through.")
    invalid: int
    duplicates: int
    sent: int
    failed: int
    suppressed: int
    unknown: int
    final: int


_VIEW_EXAMPLE: dict[str, Any] = {
    "campaignId": "camp_0190f3a2b4c5d6e7f8a9",
    "name": "Spring sale",
    "templateId": "newsletter",
    "templateVersion": 3,
    "fromAddress": "news@example.com",
    "fromName": "Acme",
    "replyTo": None,
    "tags": {"team": "growth"},
    "status": "sending",
    "statusReason": None,
    "createdAt": "2026-03-01T09:00:00.000Z",
    "updatedAt": "2026-03-01T09:05:00.000Z",
    "sendAt": "2026-03-01T09:05:00.000Z",
    "throttle": {"emailsPerMinute": 100, "emailsPerHour": 1000},
    "priority": "normal",
    "counts": {
        "recipients": 1000,
        "accepted": 970,
        "invalid": 30,
        "duplicates": 12,
        "sent": 400,
        "failed": 2,
        "suppressed": 5,
        "unknown": 0,
        "final": 407,
    },
}


class CampaignView(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True, serialize_by_alias=True, json_schema_extra={"examples": [_VIEW_EXAMPLE]}
    )

    campaign_id: str = Field(alias="campaignId")
    name: str
    template_id: str = Field(alias="templateId")
    template_version: int | None = Field(alias="templateVersion")
    from_address: str = Field(alias="fromAddress")
    from_name: str | None = Field(alias="fromName")
    reply_to: str | None = Field(alias="replyTo")
    tags: dict[str, str]
    status: CampaignStatus
    status_reason: str | None = Field(alias="statusReason")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    send_at: str | None = Field(alias="sendAt")
    throttle: dict[str, int] | None
    priority: Priority
    counts: CampaignCounts
    sender_authentication: SenderAuthenticationView | None = Field(
        default=None,
        alias="senderAuthentication",
        description="The sender-authentication check of the last send attempt (null before one).",
    )

    @classmethod
    def of(cls, c: Campaign) -> CampaignView:
        counts = CampaignCounts(
            recipients=c.recipient_count + c.intake_invalid_count,
            accepted=c.recipient_count,
            invalid=c.intake_invalid_count + c.counter("invalidCount"),
            duplicates=c.duplicate_count,
            sent=c.counter("sentCount"),
            failed=c.counter("failedCount"),
            suppressed=c.counter("suppressedCount"),
            unknown=c.counter("unknownCount"),
            final=c.counter("finalCount"),
        )
        return cls(
            campaign_id=c.campaign_id,
            name=c.name,
            template_id=c.template_id,
            template_version=c.template_version,
            from_address=c.from_address,
            from_name=c.from_name,
            reply_to=c.reply_to,
            tags=c.tags,
            status=c.status,
            status_reason=c.status_reason,
            created_at=c.created_at,
            updated_at=c.updated_at,
            send_at=c.send_at,
            throttle=c.throttle,
            priority=c.priority,
            counts=counts,
            sender_authentication=c.sender_authentication,
        )


class CampaignPage(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={"examples": [{"campaigns": [_VIEW_EXAMPLE], "nextToken": "eyJjYW1wYWlnbklkIjoi..."}]},
    )

    campaigns: list[CampaignView]
    next_token: str | None = Field(alias="nextToken")
