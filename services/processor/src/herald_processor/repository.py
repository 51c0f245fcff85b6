"""DynamoDB adapters for the campaign item and the suppression list (docs/architecture.md, "DynamoDB")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.announcements import status_message
from herald_common.delivery_states import Move, campaign_move
from herald_processor.domain import QUOTA_PAUSE_REASON, Campaign, CampaignStatus, Throttle

if TYPE_CHECKING:
    from collections.abc import Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_processor.ports import Announcer

# DynamoDB limit (Developer Guide, "BatchGetItem"): at most 100 keys per call.
BATCH_GET_MAX_KEYS = 100

log = structlog.get_logger("herald.processor")


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_condition_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def _str(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value and "S" in value else None


def _int(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else None


async def batch_get(
    dynamodb: DynamoDBClient, table: str, keys: Sequence[dict[str, Any]], *, projection: str | None = None
) -> list[dict[str, Any]]:
    """Every item of `keys` that exists; unprocessed keys (throttling) are asked again with a short backoff."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
        request: dict[str, Any] = {"Keys": list(keys[start : start + BATCH_GET_MAX_KEYS]), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        pending: dict[str, Any] = {table: request}
        for attempt in range(8):
            response = await dynamodb.batch_get_item(RequestItems=pending)
            items.extend(response.get("Responses", {}).get(table, []))
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending:
                break
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError(f"BatchGetItem on {table} left keys unprocessed")
    return items


def parse_campaign(item: dict[str, Any]) -> Campaign:
    throttle = item.get("throttle", {}).get("M", {})
    return Campaign(
        tenant_id=_str(item, "tenantId") or "",
        campaign_id=_str(item, "campaignId") or "",
        status=CampaignStatus(_str(item, "status") or "draft"),
        template_id=_str(item, "templateId") or "",
        from_address=_str(item, "fromAddress") or "",
        from_name=_str(item, "fromName"),
        reply_to=_str(item, "replyTo"),
        template_version=_int(item, "templateVersion"),
        recipient_count=_int(item, "recipientCount") or 0,
        final_count=_int(item, "finalCount") or 0,
        throttle=Throttle(
            emails_per_minute=_int(throttle, "emailsPerMinute"), emails_per_hour=_int(throttle, "emailsPerHour")
        ),
        status_reason=_str(item, "statusReason"),
        quota_resume_at=_int(item, "quotaResumeAt"),
    )


class DynamoCampaignStore:
    """`CampaignStore` on the campaigns table. Reads the definition; writes only `status` transitions it owns, and
    announces each one it made (`announcer`) for the webhooks' `campaign.status`."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, announcer: Announcer | None = None) -> None:
        self._db = dynamodb
        self._table = table
        self._announcer = announcer

    def _key(self, tenant_id: str, campaign_id: str) -> dict[str, Any]:
        return {"tenantId": {"S": tenant_id}, "campaignId": {"S": campaign_id}}

    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        """The campaign (strongly consistent read), or None when it does not exist."""
        response = await self._db.get_item(
            TableName=self._table, Key=self._key(tenant_id, campaign_id), ConsistentRead=True
        )
        item = response.get("Item")
        return parse_campaign(dict(item)) if item else None

    async def _transition(
        self, tenant_id: str, campaign_id: str, move: Move[CampaignStatus], update: str, values: dict[str, Any]
    ) -> bool:
        """Make the kit's `move` (its condition; `:target` is its target status), with `update` setting the rest."""
        condition, sources = move.condition()
        now = utc_now_iso()
        try:
            # `statusVersion` numbers the campaign's status moves in the write that makes each (docs/architecture.md).
            response = await self._db.update_item(
                TableName=self._table,
                Key=self._key(tenant_id, campaign_id),
                UpdateExpression=f"SET #s = :target, {update} ADD statsVersion :one, statusVersion :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":target": move.target_value(),
                    ":now": {"S": now},
                    ":one": {"N": "1"},
                    **sources,
                    **values,
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        if self._announcer is not None:
            old = response.get("Attributes") or {}
            reason = values.get(":reason", {}).get("S")
            await self._announce(tenant_id, campaign_id, move, dict(old), reason, now)
        return True

    async def _announce(
        self,
        tenant_id: str,
        campaign_id: str,
        move: Move[CampaignStatus],
        old: dict[str, Any],
        reason: str | None,
        now: str,
    ) -> None:
        """Best effort: the move is made either way, and analytics' announcements carry the status and its number
        too, so a move announced nowhere here still reaches the webhooks with the campaign's next counts."""
        assert self._announcer is not None
        message = status_message(
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            status=move.target.value,
            previous_status=_str(old, "status"),
            status_reason=reason,
            status_version=(_int(old, "statusVersion") or 0) + 1,
            at=now,
        )
        try:
            await self._announcer.status_changed(message)
        except (ClientError, BotoCoreError) as exc:
            log.warning("processor.status_announce_failed", status=move.target.value, error=str(exc))

    async def complete_if_done(self, tenant_id: str, campaign_id: str) -> bool:
        """`sending` → `sent` (with `sentAt`) when `finalCount >= recipientCount`; True when this call did it."""
        # Asked after every batch, also when it counted nothing: a crash between counting and this call is healed
        # by the next batch (or redelivery) of the campaign.
        return await self._transition(
            tenant_id, campaign_id, campaign_move("complete"), "sentAt = :now, updatedAt = :now", {}
        )

    async def pause(self, tenant_id: str, campaign_id: str, reason: str, *, resume_at: float | None = None) -> bool:
        """`sending` → `paused` with `statusReason` (and `quotaResumeAt` for a quota pause); True when this call did
        it."""
        update = "statusReason = :reason, updatedAt = :now"
        values: dict[str, Any] = {":reason": {"S": reason[:500]}}
        if resume_at is not None:
            update += ", quotaResumeAt = :resume"
            values[":resume"] = {"N": str(int(resume_at))}
        return await self._transition(tenant_id, campaign_id, campaign_move("pause"), update, values)

    async def resume_after_quota(self, tenant_id: str, campaign_id: str, now: float) -> bool:
        """`paused` (by the processor, for the SES daily quota, due) → `sending`; True when this call did it. A pause
        by a user (another `statusReason`) is never resumed here."""
        return await self._transition(
            tenant_id,
            campaign_id,
            campaign_move("resume_after_quota"),
            "updatedAt = :now REMOVE statusReason, quotaResumeAt",
            {":quota": {"S": QUOTA_PAUSE_REASON}, ":epoch": {"N": str(int(now))}},
        )

    async def count_dead_letter(self, tenant_id: str, campaign_id: str, batch_id: str, recipients: int) -> bool:
        """Count a batch that went to the dead-letter queue on its campaign, once per batch id; True when this call
        counted it (False: counted before, or the campaign does not exist)."""
        try:
            await self._db.update_item(
                TableName=self._table,
                Key=self._key(tenant_id, campaign_id),
                UpdateExpression="ADD deadLetterBatches :one, deadLetterRecipients :n, deadLetterBatchIds :ids "
                "SET updatedAt = :now",
                ConditionExpression="attribute_exists(campaignId) AND NOT contains(deadLetterBatchIds, :batch)",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":n": {"N": str(recipients)},
                    ":ids": {"SS": [batch_id]},
                    ":batch": {"S": batch_id},
                    ":now": {"S": utc_now_iso()},
                },
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True


class DynamoSuppressionList:
    """`SuppressionList` on the suppressions table (pk `tenantId`, sk `email`)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def suppressed(self, tenant_id: str, emails: Sequence[str]) -> set[str]:
        """Which of these (normalised, lowercased) addresses are on the tenant's suppression list."""
        unique = list(dict.fromkeys(emails))
        if not unique:
            return set()
        keys = [{"tenantId": {"S": tenant_id}, "email": {"S": e}} for e in unique]
        items = await batch_get(self._db, self._table, keys, projection="email")
        return {str(item["email"]["S"]) for item in items}
