"""The email-job message (docs/architecture.md, "SQS"), parsed and validated before anything is touched."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from herald_processor.domain import MalformedJob

TENANT_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CAMPAIGN_PATTERN = r"^camp_[A-Za-z0-9]{1,64}$"
BATCH_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class JobRecipient(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str = Field(max_length=320)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data", mode="before")
    @classmethod
    def _null_data(cls, value: Any) -> Any:
        return {} if value is None else value


class EmailJob(BaseModel):
    """One batch of one campaign. A recipient may be a bare address (the flow document) or `{email, data}`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    campaign_id: str = Field(alias="campaignId", pattern=CAMPAIGN_PATTERN)
    tenant_id: str = Field(alias="tenantId", pattern=TENANT_PATTERN)
    batch_id: str = Field(alias="batchId", pattern=BATCH_PATTERN)
    recipients: list[JobRecipient] = Field(min_length=1, max_length=1000)
    template_id: str | None = Field(default=None, alias="templateId", pattern=TENANT_PATTERN)
    template_version: int | None = Field(default=None, alias="templateVersion", ge=1)
    priority: Literal["high", "normal", "low"] = "normal"
    # How often this batch was handed back to the queue as a fresh message after a crash-loop (processor-internal).
    rescues: int = Field(default=0, ge=0)

    @field_validator("recipients", mode="before")
    @classmethod
    def _bare_addresses(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"email": r} if isinstance(r, str) else r for r in value]
        return value


def parse_job(body: str) -> EmailJob:
    """The job in `body`, or MalformedJob (which dead-letters the message)."""
    try:
        return EmailJob.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        message = errors[0]["msg"] if errors else "invalid"
        raise MalformedJob(f"not an email job: {where} {message}".strip()) from exc


def identify_job(body: str) -> tuple[str, str, str, int] | None:
    """(tenant, campaign, batch, recipients) of a message that is not a valid job but still names its campaign, so
    its dead-lettering can be counted there; None when it does not."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    ids = [document.get(k) for k in ("tenantId", "campaignId", "batchId")]
    patterns = (TENANT_PATTERN, CAMPAIGN_PATTERN, BATCH_PATTERN)
    if not all(isinstance(v, str) and re.match(p, v) for v, p in zip(ids, patterns, strict=True)):
        return None
    tenant, campaign, batch = (str(v) for v in ids)
    recipients = document.get("recipients")
    return tenant, campaign, batch, len(recipients) if isinstance(recipients, list) else 0


@dataclass(frozen=True)
class Address:
    """A recipient address after validation: the ledger key, and what SES gets (ASCII domain)."""

    key: str
    ascii: str | None  # None: invalid

    @property
    def valid(self) -> bool:
        return self.ascii is not None


def check_address(raw: str) -> Address:
    """Validate and normalise as intake does (`email-validator`, no DNS); the key is the normalised form, lowercased."""
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        return Address(key=raw.strip().lower(), ascii=None)
    return Address(key=result.normalized.lower(), ascii=result.ascii_email or result.normalized)
