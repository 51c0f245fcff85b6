"""Webhook events of what no SES event reports: `campaign.status` for every status move, and `email.failed` /
`email.unknown` for recipients the processor settled by itself. Both come as announcements on the webhooks queue
(herald_common.announcements; docs/architecture.md, SNS).

Status moves. Every write that moves a campaign's status adds 1 to its `statusVersion` in the same write, so move n
of a campaign is `campaign.status` with the id sha256(`campaign.status|tenant|campaign|n`) whoever reports it:
- the service that made the move announces it (the campaign service on this queue, the processor and analytics on
  the campaign-updates topic), with the status it left;
- analytics' statistics announcements carry the status and `statusVersion` read together, which reports a move
  whose own announcement was lost (its writer died right after the write); the last version seen per campaign,
  beside the tenant's endpoints (`webhookId` = `status#{campaignId}`), keeps it from reporting a move twice or an
  older one after a newer.
However often a move is announced, its id is one, and `{prefix}-webhook-deliveries` sends an id once per endpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.webhooks.events import EmailEvent
from herald_campaign.webhooks.schemas import WebhookEventType
from herald_common.announcements import SETTLED_TYPE, STATUS_TYPE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ANNOUNCEMENT_TYPE = "campaign.stats"
STATUS_KEY_PREFIX = "status#"
_SETTLED_EVENTS = {"failed": WebhookEventType.EMAIL_FAILED, "unknown": WebhookEventType.EMAIL_UNKNOWN}


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and value else None


def _whole(document: dict[str, Any], name: str) -> int | None:
    value = document.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class StatusMove:
    """Move `version` of a campaign's status, to `status`."""

    tenant_id: str
    campaign_id: str
    version: int
    status: str
    previous_status: str | None
    status_reason: str | None
    at: str

    def event(self) -> EmailEvent:
        data: dict[str, Any] = {
            "status": self.status,
            "previousStatus": self.previous_status,
            "statusVersion": self.version,
        }
        if self.status_reason:
            data["statusReason"] = self.status_reason
        return EmailEvent(
            event_id=_digest(STATUS_TYPE, self.tenant_id, self.campaign_id, self.version),
            type=WebhookEventType.CAMPAIGN_STATUS,
            created_at=self.at,
            tenant_id=self.tenant_id,
            campaign_id=self.campaign_id,
            data=data,
        )


def status_move(document: Any) -> StatusMove | None:
    """The move a writer announced (`{"type": "campaign.status", …}`), or None for anything else."""
    if not isinstance(document, dict) or document.get("type") != STATUS_TYPE:
        return None
    tenant, campaign, status = _text(document, "tenantId"), _text(document, "campaignId"), _text(document, "status")
    version = _whole(document, "statusVersion")
    if not tenant or not campaign or not status or version is None:
        return None
    return StatusMove(
        tenant,
        campaign,
        version,
        status,
        _text(document, "previousStatus"),
        _text(document, "statusReason"),
        _text(document, "at") or "",
    )


def stats_move(document: Any, at: str) -> StatusMove | None:
    """The status and its version an analytics statistics announcement read (None without a version: a campaign
    no move has numbered yet). Its previous status is filled in by the log."""
    if not isinstance(document, dict) or document.get("type") != ANNOUNCEMENT_TYPE:
        return None
    stats = document.get("stats")
    version = _whole(document, "statusVersion")
    if not isinstance(stats, dict) or not isinstance(stats.get("status"), str) or version is None:
        return None
    tenant, campaign = _text(document, "tenantId"), _text(document, "campaignId")
    if not tenant or not campaign:
        return None
    reason = stats.get("statusReason")
    return StatusMove(tenant, campaign, version, stats["status"], None, reason if isinstance(reason, str) else None, at)


def settlement(document: Any) -> EmailEvent | None:
    """`email.failed` / `email.unknown` from a processor's settlement announcement, or None for anything else. The
    id is sha256 of `state|tenant|campaign|email|attempt|retryCall`: the same settlement announced again (a batch
    handled again after a crash) has the same id; the same recipient failing again after a retry-failed call or a
    new attempt has another."""
    if not isinstance(document, dict) or document.get("type") != SETTLED_TYPE:
        return None
    state, email = _text(document, "state"), _text(document, "email")
    tenant, campaign = _text(document, "tenantId"), _text(document, "campaignId")
    attempt = _whole(document, "attempt")
    if state not in _SETTLED_EVENTS or not email or not tenant or not campaign or attempt is None:
        return None
    data: dict[str, Any] = {"email": email, "messageId": _text(document, "messageId"), "attempt": attempt}
    if reason := _text(document, "reason"):
        data["reason"] = reason
    return EmailEvent(
        event_id=_digest(state, tenant, campaign, email, attempt, _whole(document, "retryCall") or 0),
        type=_SETTLED_EVENTS[state],
        created_at=_text(document, "at") or "",
        tenant_id=tenant,
        campaign_id=campaign,
        data=data,
    )


class CampaignStatusLog:
    """The newest status move webhooks saw per campaign, in `{prefix}-webhooks` (sk `status#{campaignId}`)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def record(self, move: StatusMove) -> dict[str, Any] | None:
        """Make `move` the newest seen: what was seen before (attributes; {} for nothing), or None when a move as new
        or newer was seen already."""
        try:
            response = await self._db.update_item(
                TableName=self._table,
                Key={"tenantId": {"S": move.tenant_id}, "webhookId": {"S": STATUS_KEY_PREFIX + move.campaign_id}},
                UpdateExpression="SET #s = :s, statusVersion = :v, changedAt = :at",
                ConditionExpression="attribute_not_exists(statusVersion) OR statusVersion < :v",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":s": {"S": move.status},
                    ":v": {"N": str(move.version)},
                    ":at": {"S": move.at},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return dict(response.get("Attributes") or {})

    async def unreported(self, move: StatusMove) -> StatusMove | None:
        """A move read from statistics, when no move as new was seen: with its previous status when the move before
        it was seen (else None); None when it is not news."""
        before = await self.record(move)
        if before is None:
            return None
        seen_version = int(before.get("statusVersion", {}).get("N", "-1"))
        previous = before.get("status", {}).get("S") if seen_version == move.version - 1 else None
        return StatusMove(
            move.tenant_id, move.campaign_id, move.version, move.status, previous, move.status_reason, move.at
        )


def opened(body: str) -> Any:
    """A queue message's document, out of its SNS envelope if it has one."""
    document = json.loads(body)
    if isinstance(document, dict) and document.get("Type") == "Notification":
        return json.loads(document.get("Message") or "null")
    return document
