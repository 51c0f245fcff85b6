"""DynamoDB expressions of the fan-out's bookkeeping on the campaigns table: who fans a campaign out (a lease),
how far it got, and which campaigns are due.

`fanoutOwner`, `fanoutLeaseUntil` (N, epoch s) and `fanoutQueued` (N, batches queued so far) extend the table of
docs/architecture.md: they let another instance resume a fan-out whose owner died, without re-queueing batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.campaigns.models import Campaign, CampaignStatus, campaign_from_item
from herald_campaign.campaigns.status_news import write_move
from herald_campaign.dynamo import from_item, to_attr, to_item
from herald_common.delivery_states import campaign_move

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_campaign.campaigns.status_news import StatusAnnouncer

_NAMES = {"#s": "status"}
_NOT_DONE = "(attribute_not_exists(fanoutDone) OR fanoutDone = :false)"


# Status moves made here, with the conditions the kit (herald_common.delivery_states) holds for them.
START, FAIL = campaign_move("start"), campaign_move("fail")
_START_CONDITION, _START_VALUES = START.condition()
_FAIL_CONDITION, _FAIL_VALUES = FAIL.condition()


def _values(**values: Any) -> dict[str, Any]:
    return {f":{k}": to_attr(v) for k, v in values.items()}


@dataclass(frozen=True)
class DueCampaign:
    """A campaign the scheduler should act on: a due scheduled one, or a fan-out whose owner's lease expired."""

    tenant_id: str
    campaign_id: str
    status: CampaignStatus
    send_at: str | None
    lease_until: int | None


class DynamoFanoutStore:
    """The `FanoutStore` port. Its status moves (start, fail) number themselves and are announced to the webhooks
    (status_news.py)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, announcer: StatusAnnouncer | None = None) -> None:
        self._db = dynamodb
        self._table = table
        self._announcer = announcer

    async def _update(self, c: DueCampaign | Campaign, **kwargs: Any) -> dict[str, Any] | None:
        """An UpdateItem (ALL_NEW) that moves no status; None when its condition fails."""
        key = to_item({"tenantId": c.tenant_id, "campaignId": c.campaign_id})
        try:
            response = await self._db.update_item(TableName=self._table, Key=key, ReturnValues="ALL_NEW", **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response.get("Attributes") or {})

    async def find_due(self, *, now: str, epoch: int) -> list[DueCampaign]:
        """Due scheduled campaigns and abandoned fan-outs, across tenants.

        A filtered Scan reads the whole table each tick: fine for thousands of campaigns. At scale a sparse GSI
        keyed on the due time of scheduled / fanning-out campaigns replaces it (same filter, Query instead of Scan).
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": (
                "(#s = :scheduled AND sendAt <= :now) OR "
                f"(#s IN (:sending, :paused) AND fanoutLeaseUntil < :epoch AND {_NOT_DONE})"
            ),
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": _values(
                scheduled="scheduled", sending="sending", paused="paused", now=now, epoch=epoch, false=False
            ),
            "ProjectionExpression": "tenantId, campaignId, #s, sendAt, fanoutLeaseUntil",
        }
        found: list[DueCampaign] = []
        while True:
            response = await self._db.scan(**kwargs)
            for raw in response.get("Items", []):
                v = from_item(raw)
                found.append(
                    DueCampaign(
                        v["tenantId"],
                        v["campaignId"],
                        CampaignStatus(v["status"]),
                        v.get("sendAt"),
                        v.get("fanoutLeaseUntil"),
                    )
                )
            if not response.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def claim_scheduled(self, due: DueCampaign, *, owner: str, lease_until: int, now: str) -> Campaign | None:
        """scheduled → sending, taking the fan-out lease; None if someone else (or a cancel) got there first."""
        attrs = await write_move(
            self._db,
            self._table,
            self._announcer,
            tenant_id=due.tenant_id,
            campaign_id=due.campaign_id,
            status=START.target.value,
            previous_status=CampaignStatus.SCHEDULED.value,
            update="SET #s = :sending, fanoutOwner = :owner, fanoutLeaseUntil = :lease, updatedAt = :now",
            condition=_START_CONDITION,
            names=_NAMES,
            values=_START_VALUES
            | _values(sending=START.target.value, owner=owner, lease=lease_until, now=now, send_at=due.send_at),
            returns="ALL_NEW",
            now=now,
        )
        return None if attrs is None else campaign_from_item(attrs)

    async def claim_abandoned(self, due: DueCampaign, *, owner: str, lease_until: int) -> Campaign | None:
        """Take over a fan-out whose lease expired; None if another instance took it or it finished meanwhile."""
        attrs = await self._update(
            due,
            UpdateExpression="SET fanoutOwner = :owner, fanoutLeaseUntil = :lease",
            ConditionExpression=f"fanoutLeaseUntil = :old AND {_NOT_DONE}",
            ExpressionAttributeValues=_values(owner=owner, lease=lease_until, old=due.lease_until, false=False),
        )
        return None if attrs is None else campaign_from_item(attrs)

    async def heartbeat(self, c: Campaign, *, owner: str, queued: int, lease_until: int) -> CampaignStatus | None:
        """Record progress and renew the lease; the current status, or None when the lease was lost."""
        attrs = await self._update(
            c,
            UpdateExpression="SET fanoutQueued = :queued, fanoutLeaseUntil = :lease",
            ConditionExpression="fanoutOwner = :owner",
            ExpressionAttributeValues=_values(queued=queued, lease=lease_until, owner=owner),
        )
        return None if attrs is None else CampaignStatus(attrs["status"])

    async def finish(self, c: Campaign, *, owner: str, batch_count: int, now: str) -> bool:
        """Every batch is queued: the processor may now decide when the campaign is `sent`."""
        attrs = await self._update(
            c,
            UpdateExpression="SET batchCount = :count, fanoutQueued = :count, fanoutDone = :true, updatedAt = :now",
            ConditionExpression="fanoutOwner = :owner",
            ExpressionAttributeValues=_values(count=batch_count, true=True, now=now, owner=owner),
        )
        return attrs is not None

    async def fail(self, c: Campaign, *, reason: str, now: str) -> bool:
        """The fan-out cannot go on: `failed`, with the reason in words."""
        attrs = await write_move(
            self._db,
            self._table,
            self._announcer,
            tenant_id=c.tenant_id,
            campaign_id=c.campaign_id,
            status=FAIL.target.value,
            status_reason=reason[:500],
            update="SET #s = :failed, statusReason = :reason, updatedAt = :now",
            condition=_FAIL_CONDITION,
            names=_NAMES,
            values=_FAIL_VALUES | _values(failed=FAIL.target.value, reason=reason[:500], now=now),
            returns="ALL_OLD",
            now=now,
        )
        return attrs is not None

    async def release(self, c: Campaign, *, owner: str) -> None:
        """Give the lease up (shutdown mid fan-out) so the next scheduler tick anywhere resumes it at once."""
        await self._update(
            c,
            UpdateExpression="SET fanoutLeaseUntil = :zero",
            ConditionExpression="fanoutOwner = :owner",
            ExpressionAttributeValues=_values(zero=0, owner=owner),
        )
