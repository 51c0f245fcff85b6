"""What the processor settles by itself, announced on `{prefix}-campaign-updates` for the campaign service's webhooks:
recipients made final `failed` (render error, missing template, SES refused the message for good, throttling
retries used up) or `unknown` (in doubt under HERALD_IN_DOUBT=hold, or its resends used up), which no SES event
reports, and the campaign status moves it makes (`sent`, its pause for the SES daily quota and the resume).

A batch announces its `failed` and `unknown` recipients before it counts them (service.py). A recipient the ledger
holds final but not counted is counted by whoever handles the batch next, and announced again then: a crash between
the settlement and the announcement loses nothing, and a repeat has the same event id (the webhooks' dedupe).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from herald_common.announcements import encode, settled_message
from herald_processor.domain import LedgerState
from herald_processor.repository import batch_get

if TYPE_CHECKING:
    from collections.abc import Mapping

    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sns import SNSClient

    from herald_processor.domain import Campaign

log = structlog.get_logger("herald.processor")

ANNOUNCED_STATES = frozenset({LedgerState.FAILED, LedgerState.UNKNOWN})
SNS_BATCH_ENTRIES = 10  # SNS PublishBatch takes at most 10 entries


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name, {})
    return str(value["S"]) if "S" in value else None


def _number(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name, {})
    return int(value["N"]) if "N" in value else None


class SnsAnnouncer:
    """`Announcer` on the campaign-updates topic; it reads what it announces from the ledger."""

    def __init__(self, sns: SNSClient, topic_arn: str, dynamodb: DynamoDBClient, ledger_table: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._db = dynamodb
        self._ledger = ledger_table

    async def settled(self, campaign: Campaign, finals: Mapping[str, LedgerState]) -> None:
        emails = [email for email, state in finals.items() if state in ANNOUNCED_STATES]
        if not emails:
            return
        keys = [{"campaignKey": {"S": campaign.key}, "email": {"S": email}} for email in emails]
        messages = []
        for item in await batch_get(self._db, self._ledger, keys):
            state = _text(item, "state")
            if state not in ANNOUNCED_STATES or item.get("counted", {}).get("BOOL"):
                continue  # moved on meanwhile (reconciled, retried), or counted and announced by another handler
            messages.append(
                settled_message(
                    tenant_id=campaign.tenant_id,
                    campaign_id=campaign.campaign_id,
                    email=str(item["email"]["S"]),
                    state=state,
                    attempt=_number(item, "attempt") or 0,
                    retry_call=_number(item, "retryCall"),
                    reason=_text(item, "reason"),
                    message_id=_text(item, "messageId"),
                    at=_text(item, "updatedAt"),
                )
            )
        for start in range(0, len(messages), SNS_BATCH_ENTRIES):
            chunk = messages[start : start + SNS_BATCH_ENTRIES]
            response = await self._sns.publish_batch(
                TopicArn=self._topic_arn,
                PublishBatchRequestEntries=[
                    {"Id": str(i), "Message": encode(message)} for i, message in enumerate(chunk)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SNS refused {len(response['Failed'])} settlement announcements")

    async def status_changed(self, message: dict[str, Any]) -> None:
        await self._sns.publish(TopicArn=self._topic_arn, Message=encode(message))
