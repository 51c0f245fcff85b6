"""`campaign.status` webhook events from analytics' campaign announcements (`{"type": "campaign.stats", …}` on the
campaign-updates topic, to which the webhooks queue is subscribed too).

An announcement carries the campaign's status as analytics last read it; a change is one whose status differs from
the last one seen for the campaign. The last status lives beside the tenant's endpoints (`webhookId` =
`status#{campaignId}`) and moves with a conditional update that also numbers the change: of two consumers seeing the
same change only one wins, and the change's number makes its event id (the same change, the same id).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.webhooks.events import EmailEvent
from herald_campaign.webhooks.schemas import WebhookEventType

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ANNOUNCEMENT_TYPE = "campaign.stats"
STATUS_KEY_PREFIX = "status#"


@dataclass(frozen=True)
class Announcement:
    tenant_id: str
    campaign_id: str
    status: str
    stats: dict[str, Any]


def announcement(document: Any) -> Announcement | None:
    """The announcement in a queue message's (envelope-opened) document, or None for anything else."""
    if not isinstance(document, dict) or document.get("type") != ANNOUNCEMENT_TYPE:
        return None
    stats = document.get("stats")
    if not isinstance(stats, dict) or not isinstance(stats.get("status"), str):
        return None
    return Announcement(str(document.get("tenantId")), str(document.get("campaignId")), stats["status"], stats)


class CampaignStatusLog:
    """The last status webhooks saw per campaign, in `{prefix}-webhooks` (sk `status#{campaignId}`)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def change(self, seen: Announcement, at: str) -> EmailEvent | None:
        """The `campaign.status` event when `seen` changes the campaign's status, else None."""
        try:
            response = await self._db.update_item(
                TableName=self._table,
                Key={"tenantId": {"S": seen.tenant_id}, "webhookId": {"S": STATUS_KEY_PREFIX + seen.campaign_id}},
                UpdateExpression="SET #s = :s, changedAt = :at ADD changes :one",
                ConditionExpression="attribute_not_exists(#s) OR #s <> :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": seen.status}, ":at": {"S": at}, ":one": {"N": "1"}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        old = response.get("Attributes") or {}
        number = int(old.get("changes", {}).get("N", "0")) + 1
        previous = old.get("status", {}).get("S")
        identity = f"campaign.status|{seen.tenant_id}|{seen.campaign_id}|{number}|{seen.status}"
        data: dict[str, Any] = {"status": seen.status, "previousStatus": previous}
        if seen.stats.get("statusReason"):
            data["statusReason"] = seen.stats["statusReason"]
        return EmailEvent(
            event_id=hashlib.sha256(identity.encode()).hexdigest(),
            type=WebhookEventType.CAMPAIGN_STATUS,
            created_at=at,
            tenant_id=seen.tenant_id,
            campaign_id=seen.campaign_id,
            data=data,
        )


def opened(body: str) -> Any:
    """A queue message's document, out of its SNS envelope if it has one."""
    document = json.loads(body)
    if isinstance(document, dict) and document.get("Type") == "Notification":
        return json.loads(document.get("Message") or "null")
    return document
