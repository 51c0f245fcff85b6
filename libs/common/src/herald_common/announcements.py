"""The announcements services make on `{prefix}-campaign-updates` besides analytics' statistics: a recipient the
processor settled `failed` or `unknown` by itself, and a campaign status move. The campaign service's webhooks read
them (its queue is subscribed to the topic; the campaign service puts its own moves on that queue directly).

This module is their wire shape, the one contract between the services that write them and the one that reads
them (docs/architecture.md, SNS); what a receiver finally gets is the webhooks' business.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient

SETTLED_TYPE = "email.settled"
STATUS_TYPE = "campaign.status"


def settled_message(
    *,
    tenant_id: str,
    campaign_id: str,
    email: str,
    state: str,
    attempt: int,
    retry_call: int | None,
    reason: str | None,
    message_id: str | None,
    at: str | None,
) -> dict[str, Any]:
    """A recipient made final `failed` or `unknown` with no SES event to say so. `attempt` and `retryCall` (the
    retry-failed call that queued it again, if any) tell one settlement of a recipient from its next."""
    return {
        "type": SETTLED_TYPE,
        "tenantId": tenant_id,
        "campaignId": campaign_id,
        "email": email,
        "state": state,
        "attempt": attempt,
        "retryCall": retry_call,
        "reason": reason,
        "messageId": message_id,
        "at": at,
    }


def status_message(
    *,
    tenant_id: str,
    campaign_id: str,
    status: str,
    previous_status: str | None,
    status_reason: str | None,
    status_version: int,
    at: str,
) -> dict[str, Any]:
    """A campaign status move. `statusVersion` is the campaign's count of status moves, added in the very write that
    made this one (`{prefix}-campaigns`), so each move has its own number whoever made it and however often it is
    announced."""
    return {
        "type": STATUS_TYPE,
        "tenantId": tenant_id,
        "campaignId": campaign_id,
        "status": status,
        "previousStatus": previous_status,
        "statusReason": status_reason,
        "statusVersion": status_version,
        "at": at,
    }


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class TopicAnnouncer:
    """Announcements published on the campaign-updates topic, one message each."""

    def __init__(self, sns: SNSClient, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    async def announce(self, message: dict[str, Any]) -> None:
        await self._sns.publish(TopicArn=self._topic_arn, Message=encode(message))
