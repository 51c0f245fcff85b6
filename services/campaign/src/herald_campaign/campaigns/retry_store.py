"""DynamoDB expressions of retry-failed's durable record on the campaigns table.

A retry-failed call is written down before it touches the ledger, and removed only once its batches are all queued:
`retryRun` (N, the call's number), `retryOwner` and `retryLeaseUntil` (N, epoch s) (who runs it), `retryQueued` (N,
batches queued so far; absent while the ledger is still being reset). If the instance running it dies, another one's
scheduler finds the record with its lease run out, takes it over and finishes it, with the same batch ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.dynamo import from_item, to_attr, to_item

if TYPE_CHECKING:
    from collections.abc import Iterable

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_campaign.campaigns.models import CampaignStatus

_NAMES = {"#s": "status"}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{k}": to_attr(v) for k, v in values.items()}


@dataclass(frozen=True)
class RetryRun:
    """One retry-failed call in progress: its number, and how many batches it has queued (None: resetting)."""

    tenant_id: str
    campaign_id: str
    call: int
    lease_until: int
    queued: int | None = None


def _run_from(attrs: dict[str, Any]) -> RetryRun:
    queued = attrs.get("retryQueued")
    return RetryRun(
        tenant_id=attrs["tenantId"],
        campaign_id=attrs["campaignId"],
        call=int(attrs["retryRun"]),
        lease_until=int(attrs.get("retryLeaseUntil") or 0),
        queued=None if queued is None else int(queued),
    )


class DynamoRetryStore:
    """The `RetryStore` port."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def _update(self, tenant_id: str, campaign_id: str, **kwargs: Any) -> dict[str, Any] | None:
        key = to_item({"tenantId": tenant_id, "campaignId": campaign_id})
        try:
            response = await self._db.update_item(TableName=self._table, Key=key, ReturnValues="ALL_NEW", **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response.get("Attributes") or {})

    async def start(
        self,
        tenant_id: str,
        campaign_id: str,
        *,
        allowed: Iterable[CampaignStatus],
        owner: str,
        lease_until: int,
        now: str,
    ) -> RetryRun | None:
        """Number the call (`retryCalls` + 1) and record it as running, in one conditional write; None when the
        campaign is not in one of `allowed` or another retry-failed call is still running."""
        allowed_values = {f"a{i}": s.value for i, s in enumerate(allowed)}
        attrs = await self._update(
            tenant_id,
            campaign_id,
            UpdateExpression="SET retryCalls = if_not_exists(retryCalls, :zero) + :one, "
            "retryRun = if_not_exists(retryCalls, :zero) + :one, retryOwner = :owner, retryLeaseUntil = :lease, "
            "updatedAt = :now REMOVE retryQueued",
            ConditionExpression="attribute_not_exists(retryRun) AND #s IN ("
            + ", ".join(f":{k}" for k in allowed_values)
            + ")",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=_values(zero=0, one=1, owner=owner, lease=lease_until, now=now, **allowed_values),
        )
        return None if attrs is None else _run_from(attrs)

    async def running(self, tenant_id: str, campaign_id: str) -> bool:
        """Whether a retry-failed call of the campaign is recorded as running."""
        response = await self._db.get_item(
            TableName=self._table,
            Key=to_item({"tenantId": tenant_id, "campaignId": campaign_id}),
            ProjectionExpression="retryRun",
            ConsistentRead=True,
        )
        return "retryRun" in response.get("Item", {})

    async def heartbeat(self, run: RetryRun, *, owner: str, queued: int | None, lease_until: int) -> bool:
        """Renew the lease (and record `queued` batches, when given); False when the run is no longer ours."""
        sets = "retryLeaseUntil = :lease" + (", retryQueued = :queued" if queued is not None else "")
        values = _values(lease=lease_until, owner=owner, call=run.call)
        if queued is not None:
            values |= _values(queued=queued)
        attrs = await self._update(
            run.tenant_id,
            run.campaign_id,
            UpdateExpression=f"SET {sets}",
            ConditionExpression="retryOwner = :owner AND retryRun = :call",
            ExpressionAttributeValues=values,
        )
        return attrs is not None

    async def finish(self, run: RetryRun, *, owner: str, now: str) -> bool:
        """Every batch of the run is queued: remove the record (the next retry-failed call may start)."""
        attrs = await self._update(
            run.tenant_id,
            run.campaign_id,
            UpdateExpression="SET updatedAt = :now REMOVE retryRun, retryOwner, retryLeaseUntil, retryQueued",
            ConditionExpression="retryOwner = :owner AND retryRun = :call",
            ExpressionAttributeValues=_values(now=now, owner=owner, call=run.call),
        )
        return attrs is not None

    async def release(self, run: RetryRun, *, owner: str) -> None:
        """Give the lease up (shutdown mid-run) so the next scheduler tick anywhere resumes the run at once."""
        await self._update(
            run.tenant_id,
            run.campaign_id,
            UpdateExpression="SET retryLeaseUntil = :zero",
            ConditionExpression="retryOwner = :owner AND retryRun = :call",
            ExpressionAttributeValues=_values(zero=0, owner=owner, call=run.call),
        )

    async def find_abandoned(self, *, epoch: int) -> list[RetryRun]:
        """Runs whose owner stopped renewing its lease, across tenants (a filtered Scan, as `find_due`)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "attribute_exists(retryRun) AND retryLeaseUntil < :epoch",
            "ExpressionAttributeValues": _values(epoch=epoch),
            "ProjectionExpression": "tenantId, campaignId, retryRun, retryLeaseUntil, retryQueued",
        }
        found: list[RetryRun] = []
        while True:
            response = await self._db.scan(**kwargs)
            found += [_run_from(from_item(raw)) for raw in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def claim_abandoned(self, run: RetryRun, *, owner: str, lease_until: int) -> RetryRun | None:
        """Take over a run whose lease expired; None if another instance took it or it finished meanwhile."""
        attrs = await self._update(
            run.tenant_id,
            run.campaign_id,
            UpdateExpression="SET retryOwner = :owner, retryLeaseUntil = :lease",
            ConditionExpression="retryRun = :call AND retryLeaseUntil = :old",
            ExpressionAttributeValues=_values(owner=owner, lease=lease_until, call=run.call, old=run.lease_until),
        )
        return None if attrs is None else _run_from(attrs)
