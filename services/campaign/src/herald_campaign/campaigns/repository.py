"""Every DynamoDB expression on the campaigns table. Status changes are conditional writes, so two concurrent
requests (or two service instances) can never both win one transition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.campaigns.models import Campaign, CampaignStatus, campaign_from_item, campaign_to_item
from herald_campaign.campaigns.status_news import write_move
from herald_campaign.dynamo import from_item, to_attr, to_item
from herald_common.delivery_states import campaign_move, state_in

if TYPE_CHECKING:
    from collections.abc import Iterable

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_campaign.campaigns.status_news import StatusAnnouncer
    from herald_campaign.dynamo import Item

_NAMES = {"#s": "status"}
# Status moves made here, with the conditions the kit (herald_common.delivery_states) holds for them. `send` and
# `schedule` share their source and guard, so one condition serves both.
_SEND_CONDITION, _SEND_VALUES = campaign_move("send").condition()
REOPEN = campaign_move("reopen")
_REOPEN_CONDITION, _REOPEN_VALUES = REOPEN.condition()


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _values(**values: Any) -> dict[str, Any]:
    return {f":{k}": to_attr(v) for k, v in values.items()}


class DynamoCampaignStore:
    """The `CampaignStore` port over the `{prefix}-campaigns` table (pk tenantId, sk campaignId). Each status move
    numbers itself (`statusVersion`) and is announced to the webhooks (status_news.py)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, announcer: StatusAnnouncer | None = None) -> None:
        self._db = dynamodb
        self._table = table
        self._announcer = announcer

    def _key(self, tenant_id: str, campaign_id: str) -> Item:
        return to_item({"tenantId": tenant_id, "campaignId": campaign_id})

    async def _update(self, tenant_id: str, campaign_id: str, **kwargs: Any) -> Item | None:
        """An UpdateItem; None when its condition fails."""
        try:
            key = self._key(tenant_id, campaign_id)
            response = await self._db.update_item(TableName=self._table, Key=key, **kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return response.get("Attributes") or {}

    async def create(self, campaign: Campaign) -> None:
        await self._db.put_item(
            TableName=self._table,
            Item=to_item(campaign_to_item(campaign)),
            ConditionExpression="attribute_not_exists(campaignId)",
        )

    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        response = await self._db.get_item(
            TableName=self._table, Key=self._key(tenant_id, campaign_id), ConsistentRead=True
        )
        item = response.get("Item")
        return campaign_from_item(from_item(item)) if item else None

    async def list_page(
        self, tenant_id: str, *, status: CampaignStatus | None, limit: int, start_key: Item | None
    ) -> tuple[list[Campaign], Item | None]:
        """One page of the tenant's campaigns, newest first. With a status filter a page may hold fewer than
        `limit` campaigns and still have a next page (DynamoDB filters after reading)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "tenantId = :t",
            "ExpressionAttributeValues": _values(t=tenant_id),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status is not None:
            kwargs["FilterExpression"] = "#s = :s"
            kwargs["ExpressionAttributeNames"] = _NAMES
            kwargs["ExpressionAttributeValues"] |= _values(s=status.value)
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = await self._db.query(**kwargs)
        campaigns = [campaign_from_item(from_item(i)) for i in response.get("Items", [])]
        return campaigns, response.get("LastEvaluatedKey")

    async def reserve_parts(self, tenant_id: str, campaign_id: str, count: int, now: str) -> int | None:
        """Reserve `count` part numbers of a draft; the last reserved one, or None when it is not a draft."""
        attrs = await self._update(
            tenant_id,
            campaign_id,
            UpdateExpression="ADD recipientParts :n SET updatedAt = :now",
            ConditionExpression="#s = :draft",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=_values(n=count, now=now, draft=CampaignStatus.DRAFT.value),
            ReturnValues="UPDATED_NEW",
        )
        return None if attrs is None else int(from_item(attrs)["recipientParts"])

    async def add_intake(
        self, tenant_id: str, campaign_id: str, *, accepted: int, invalid: int, duplicates: int, now: str
    ) -> bool:
        """Count an upload into a draft; False when it is no longer a draft."""
        attrs = await self._update(
            tenant_id,
            campaign_id,
            UpdateExpression="ADD recipientCount :a, intakeInvalidCount :i, duplicateCount :d SET updatedAt = :now",
            ConditionExpression="#s = :draft",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=_values(
                a=accepted, i=invalid, d=duplicates, now=now, draft=CampaignStatus.DRAFT.value
            ),
        )
        return attrs is not None

    async def claim_send(self, tenant_id: str, campaign_id: str, *, sets: dict[str, Any], now: str) -> Campaign | None:
        """draft → sets["status"] (sending or scheduled) with the send options, only if it is still a draft with
        recipients. The updated campaign, or None for the loser of a race."""
        names = {f"#{k}": k for k in sets} | _NAMES
        values = {f":{k}": to_attr(v) for k, v in sets.items()}
        assignments = ", ".join(f"#{k} = :{k}" for k in sets)
        attrs = await write_move(
            self._db,
            self._table,
            self._announcer,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            status=str(sets["status"]),
            previous_status=CampaignStatus.DRAFT.value,
            update=f"SET {assignments}, updatedAt = :now",
            condition=_SEND_CONDITION,
            names=names,
            values=values | _SEND_VALUES | _values(now=now, zero=0),
            returns="ALL_NEW",
            now=now,
        )
        return None if attrs is None else campaign_from_item(attrs)

    async def transition(
        self,
        tenant_id: str,
        campaign_id: str,
        *,
        allowed: Iterable[CampaignStatus],
        target: CampaignStatus,
        reason: str | None,
        now: str,
    ) -> bool:
        """Move to `target` if the status is one of `allowed`; False otherwise."""
        condition, allowed_values = state_in(allowed, prefix="a")
        update = "SET #s = :target, updatedAt = :now"
        values = allowed_values | _values(target=target.value, now=now)
        if reason is None:
            update += " REMOVE statusReason"
        else:
            update += ", statusReason = :reason"
            values |= _values(reason=reason)
        attrs = await write_move(
            self._db,
            self._table,
            self._announcer,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            status=target.value,
            status_reason=reason,
            update=update,
            condition=condition,
            names=_NAMES,
            values=values,
            returns="ALL_OLD",
            now=now,
        )
        return attrs is not None

    async def update_draft(
        self, tenant_id: str, campaign_id: str, *, sets: dict[str, Any], removes: Iterable[str], now: str
    ) -> Campaign | None:
        """Change a draft's definition; None when it is not (or no longer) a draft."""
        names = {f"#{k}": k for k in (*sets, *removes)} | _NAMES
        update = "SET " + ", ".join([*(f"#{k} = :{k}" for k in sets), "updatedAt = :now"])
        if removes:
            update += " REMOVE " + ", ".join(f"#{k}" for k in removes)
        values = {f":{k}": to_attr(v) for k, v in sets.items()}
        attrs = await self._update(
            tenant_id,
            campaign_id,
            UpdateExpression=update,
            ConditionExpression="#s = :draft",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values | _values(now=now, draft=CampaignStatus.DRAFT.value),
            ReturnValues="ALL_NEW",
        )
        return None if attrs is None else campaign_from_item(from_item(attrs))

    async def delete_draft(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        """Delete a draft row; the deleted campaign, or None when it is not (or no longer) a draft."""
        try:
            response = await self._db.delete_item(
                TableName=self._table,
                Key=self._key(tenant_id, campaign_id),
                ConditionExpression="#s = :draft",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=_values(draft=CampaignStatus.DRAFT.value),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        item = response.get("Attributes")
        return campaign_from_item(from_item(item)) if item else None

    async def reserve_invalid_part(self, tenant_id: str, campaign_id: str, now: str) -> int | None:
        """Reserve the number of a draft's next invalid-rows file; None when it is not a draft."""
        attrs = await self._update(
            tenant_id,
            campaign_id,
            UpdateExpression="ADD invalidParts :one SET updatedAt = :now",
            ConditionExpression="#s = :draft",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=_values(one=1, now=now, draft=CampaignStatus.DRAFT.value),
            ReturnValues="UPDATED_NEW",
        )
        return None if attrs is None else int(from_item(attrs)["invalidParts"])

    async def start_retry(
        self, tenant_id: str, campaign_id: str, *, allowed: Iterable[CampaignStatus], now: str
    ) -> int | None:
        """Number this retry-failed call (1, 2, …) if the campaign is in one of `allowed`; None otherwise."""
        allowed_values = {f"a{i}": s.value for i, s in enumerate(allowed)}
        attrs = await self._update(
            tenant_id,
            campaign_id,
            UpdateExpression="ADD retryCalls :one SET updatedAt = :now",
            ConditionExpression="#s IN (" + ", ".join(f":{k}" for k in allowed_values) + ")",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=_values(one=1, now=now, **allowed_values),
            ReturnValues="UPDATED_NEW",
        )
        return None if attrs is None else int(from_item(attrs)["retryCalls"])

    async def reopen(self, tenant_id: str, campaign_id: str, now: str) -> bool:
        """sent → sending (recipients were re-queued and are not final yet); False when it was not `sent`, or when
        every recipient is final again already (a resumed retry-failed run whose batches went out meanwhile)."""
        attrs = await write_move(
            self._db,
            self._table,
            self._announcer,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            status=REOPEN.target.value,
            previous_status=CampaignStatus.SENT.value,
            update="SET #s = :sending, updatedAt = :now REMOVE sentAt",
            condition=_REOPEN_CONDITION,
            names=_NAMES,
            values=_REOPEN_VALUES | _values(sending=REOPEN.target.value, now=now),
            returns="UPDATED_NEW",
            now=now,
        )
        return attrs is not None
