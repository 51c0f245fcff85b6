"""The campaign as the service holds it, and its mapping to the campaigns table (docs/architecture.md)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# The statuses are the kit's (herald_common.delivery_states, their one owner), re-exported for the service's modules.
from herald_common.delivery_states import CampaignStatus as CampaignStatus


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`: one fixed width, so stored times compare as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_campaign_id() -> str:
    """`camp_` + 20 lowercase hex characters: 12 of milliseconds since the epoch, then 8 random ones.

    Time-ordered ids let the campaigns table list a tenant's campaigns newest first without an index.
    """
    return f"camp_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Campaign:
    """One campaign row. Counters written by the processor and analytics are read, never written, here."""

    tenant_id: str
    campaign_id: str
    name: str
    template_id: str
    from_address: str
    created_at: str
    updated_at: str
    status: CampaignStatus = CampaignStatus.DRAFT
    from_name: str | None = None
    reply_to: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    status_reason: str | None = None
    template_version: int | None = None
    send_at: str | None = None
    sent_at: str | None = None
    throttle: dict[str, int] | None = None
    priority: Priority = Priority.NORMAL
    recipient_parts: int = 0
    recipient_count: int = 0
    intake_invalid_count: int = 0
    duplicate_count: int = 0
    invalid_parts: int = 0
    batch_size: int | None = None
    batch_count: int | None = None
    fanout_done: bool = False
    fanout_queued: int = 0
    fanout_lease_until: int | None = None
    counters: dict[str, int] = field(default_factory=dict)
    sender_authentication: dict[str, Any] | None = None  # the last check, stored by a send (senders/service.py)

    def counter(self, name: str) -> int:
        return self.counters.get(name, 0)


# Counters other services ADD to the campaign row; read back for the campaign view.
COUNTER_ATTRIBUTES = (
    "finalCount",
    "sentCount",
    "failedCount",
    "suppressedCount",
    "invalidCount",
    "unknownCount",
    "cancelledCount",
)


def campaign_to_item(c: Campaign) -> dict[str, Any]:
    """The attributes a new campaign is created with (counters start absent; ADD creates them)."""
    return {
        "tenantId": c.tenant_id,
        "campaignId": c.campaign_id,
        "name": c.name,
        "templateId": c.template_id,
        "fromAddress": c.from_address,
        "fromName": c.from_name,
        "replyTo": c.reply_to,
        "tags": c.tags,
        "status": c.status.value,
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "priority": c.priority.value,
        "recipientParts": c.recipient_parts,
        "recipientCount": c.recipient_count,
        "intakeInvalidCount": c.intake_invalid_count,
        "duplicateCount": c.duplicate_count,
        "invalidParts": c.invalid_parts,
    }


def campaign_from_item(values: dict[str, Any]) -> Campaign:
    """A campaign from a table row (already converted from attribute values)."""
    return Campaign(
        tenant_id=values["tenantId"],
        campaign_id=values["campaignId"],
        name=values.get("name", ""),
        template_id=values.get("templateId", ""),
        from_address=values.get("fromAddress", ""),
        created_at=values.get("createdAt", ""),
        updated_at=values.get("updatedAt", ""),
        status=CampaignStatus(values.get("status", "draft")),
        from_name=values.get("fromName"),
        reply_to=values.get("replyTo"),
        tags=values.get("tags") or {},
        status_reason=values.get("statusReason"),
        template_version=values.get("templateVersion"),
        send_at=values.get("sendAt"),
        sent_at=values.get("sentAt"),
        throttle=values.get("throttle"),
        priority=Priority(values.get("priority", "normal")),
        recipient_parts=values.get("recipientParts", 0),
        recipient_count=values.get("recipientCount", 0),
        intake_invalid_count=values.get("intakeInvalidCount", 0),
        duplicate_count=values.get("duplicateCount", 0),
        invalid_parts=values.get("invalidParts", 0),
        batch_size=values.get("batchSize"),
        batch_count=values.get("batchCount"),
        fanout_done=bool(values.get("fanoutDone", False)),
        fanout_queued=values.get("fanoutQueued", 0),
        fanout_lease_until=values.get("fanoutLeaseUntil"),
        counters={name: int(values.get(name, 0)) for name in COUNTER_ATTRIBUTES},
        sender_authentication=values.get("senderAuthentication"),
    )
