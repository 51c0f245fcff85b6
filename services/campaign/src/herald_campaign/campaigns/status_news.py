"""Announcing the campaign service's own status moves for the webhooks' `campaign.status` (webhooks/status.py): each
move's write adds 1 to the campaign's `statusVersion`, and the move is put on the `{prefix}-webhooks` queue with that
number. Best effort: a move whose announcement is lost reaches the webhooks with analytics' next statistics of the
campaign, which carry the status and its number too."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_campaign.dynamo import from_item, to_attr, to_item
from herald_common.announcements import encode, status_message

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("herald.campaign")

# Added to every status move's UpdateExpression (its `ADD` part), so each move numbers itself.
STATUS_VERSION_ADD = "statusVersion :one"


class StatusAnnouncer(Protocol):
    async def announce(self, message: dict[str, Any]) -> None:
        """Put one status-move announcement where the webhooks read it."""


class QueueStatusAnnouncer:
    """`StatusAnnouncer` on the webhooks queue (the campaign service's own: no topic in between)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    async def announce(self, message: dict[str, Any]) -> None:
        await self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=encode(message))


def _int(value: Any) -> int:
    raw = value.get("N") if isinstance(value, dict) else value
    return int(raw) if isinstance(raw, int | str | Decimal) and not isinstance(raw, bool) else 0


async def announce_move(
    announcer: StatusAnnouncer | None,
    *,
    tenant_id: str,
    campaign_id: str,
    status: str,
    previous_status: str | None,
    status_reason: str | None,
    status_version: Any,
    now: str,
) -> None:
    """Announce a move this service made; `status_version` is the campaign's `statusVersion` after it (a number or
    its DynamoDB attribute)."""
    if announcer is None:
        return
    message = status_message(
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        status=status,
        previous_status=previous_status,
        status_reason=status_reason,
        status_version=_int(status_version),
        at=now,
    )
    try:
        await announcer.announce(message)
    except (ClientError, BotoCoreError) as exc:
        log.warning(
            "campaign.status_announce_failed", tenantId=tenant_id, campaignId=campaign_id, status=status, error=str(exc)
        )


async def write_move(
    dynamodb: DynamoDBClient,
    table: str,
    announcer: StatusAnnouncer | None,
    *,
    tenant_id: str,
    campaign_id: str,
    status: str,
    update: str,
    condition: str,
    names: dict[str, str],
    values: dict[str, Any],
    returns: Literal["ALL_NEW", "ALL_OLD", "UPDATED_NEW"],
    now: str,
    previous_status: str | None = None,
    status_reason: str | None = None,
) -> dict[str, Any] | None:
    """One status move on the campaigns table: the UpdateItem `update` (its SET/REMOVE parts; the `statusVersion`
    ADD is appended here) under `condition`, then its announcement. The item's attributes as `returns` asks (Python
    values), or None when the condition failed: another request moved the campaign first, and only the winner
    announces.

    With `ALL_OLD` the old item tells the status before the move and the version after it is one more than its
    own; otherwise the caller names `previous_status` (its condition allows only one) and the new item has the
    version."""
    try:
        response = await dynamodb.update_item(
            TableName=table,
            Key=to_item({"tenantId": tenant_id, "campaignId": campaign_id}),
            UpdateExpression=f"{update} ADD {STATUS_VERSION_ADD}",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values | {":one": to_attr(1)},
            ReturnValues=returns,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return None
        raise
    attrs = from_item(response.get("Attributes") or {})
    if returns == "ALL_OLD":
        previous_status, status_version = attrs.get("status"), _int(attrs.get("statusVersion")) + 1
    else:
        status_version = _int(attrs.get("statusVersion"))
    await announce_move(
        announcer,
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        status=status,
        previous_status=previous_status,
        status_reason=status_reason,
        status_version=status_version,
        now=now,
    )
    return attrs
