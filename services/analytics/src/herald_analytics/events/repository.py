"""DynamoDB expressions of SES-event counting: the dedupe log, the counters, the suppressions (ledger: ledger.py)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.announcements import status_message
from herald_common.delivery_states import CampaignStatus, Move, campaign_move

if TYPE_CHECKING:
    from collections.abc import Mapping

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_analytics.events.schemas import CampaignRef, SuppressionReason
    from herald_common.announcements import TopicAnnouncer

CONDITION_FAILED = "ConditionalCheckFailedException"
# The processor adds its counters to the same campaign item inside transactions; a plain write that meets one in
# progress is refused with this code (botocore does not retry it). A short in-process retry usually clears it;
# past that the message is redelivered and finishes from the ledger's `countedEvents`.
TRANSACTION_CONFLICT = "TransactionConflictException"
TRANSACTION_CONFLICT_ATTEMPTS = 4
TRANSACTION_CANCELLED = "TransactionCanceledException"
CONDITION_CHECK_FAILED = "ConditionalCheckFailed"  # a cancelled transaction's reason for one action


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == CONDITION_FAILED


log = structlog.get_logger("herald.analytics")


class ClaimState(StrEnum):
    CLAIMED = "claimed"  # this handler owns the event now
    DONE = "done"  # counted before: a duplicate
    IN_FLIGHT = "inFlight"  # another handler owns it (or crashed less than a lease ago)


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    retry_after: int = 0
    lease_until: int = 0  # CLAIMED: the lease this handler wrote (what it marks the event done with)


class ClaimLost(Exception):
    """The event's lease ran out before it was counted and another handler took it: this one counts nothing."""


class EventLog:
    """`{prefix}-events`: one item per SES event identity; `processing` with a lease, then `done`; TTL `expiresAt`."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, lease_seconds: int, ttl_seconds: int) -> None:
        self._db = dynamodb
        self._table = table
        self._lease = lease_seconds
        self._ttl = ttl_seconds

    async def claim(self, event_id: str, now: int) -> Claim:
        """Take the event, unless it is done or another live handler holds it."""
        try:
            await self._db.put_item(
                TableName=self._table,
                Item={
                    "eventId": {"S": event_id},
                    "state": {"S": "processing"},
                    "leaseUntil": {"N": str(now + self._lease)},
                    "expiresAt": {"N": str(now + self._ttl)},
                },
                ConditionExpression="attribute_not_exists(eventId) OR (#s = :processing AND leaseUntil < :now)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":processing": {"S": "processing"}, ":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            old: dict[str, Any] = exc.response.get("Item") or await self._get(event_id)  # type: ignore[assignment]
            if old.get("state", {}).get("S") == "processing":
                return Claim(ClaimState.IN_FLIGHT, max(1, int(old.get("leaseUntil", {}).get("N", now)) - now))
            return Claim(ClaimState.DONE)
        return Claim(ClaimState.CLAIMED, lease_until=now + self._lease)

    async def complete(self, event_id: str) -> None:
        """Mark a claimed event done: from now on a redelivery is a duplicate."""
        await self._db.update_item(
            TableName=self._table,
            Key={"eventId": {"S": event_id}},
            UpdateExpression="SET #s = :done REMOVE leaseUntil",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":done": {"S": "done"}},
        )

    def completion(self, event_id: str, claim: Claim) -> dict[str, Any]:
        """The transaction action that marks a claimed event done, if this handler's lease is still the one
        stored (a handler whose lease ran out and was taken over must not count the event as well)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"eventId": {"S": event_id}},
                "UpdateExpression": "SET #s = :done REMOVE leaseUntil",
                "ConditionExpression": "#s = :processing AND leaseUntil = :lease",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {
                    ":done": {"S": "done"},
                    ":processing": {"S": "processing"},
                    ":lease": {"N": str(claim.lease_until)},
                },
            }
        }

    async def _get(self, event_id: str) -> dict[str, Any]:
        response = await self._db.get_item(TableName=self._table, Key={"eventId": {"S": event_id}}, ConsistentRead=True)
        return dict(response.get("Item", {}))


def counter_update(table: str, ref: CampaignRef, deltas: Mapping[str, int], now_iso: str) -> dict[str, Any]:
    """ADD `deltas` to an existing campaign item's counters, bump `statsVersion`, stamp `updatedAt`."""
    names = {f"#c{i}": name for i, name in enumerate(deltas)}
    values: dict[str, Any] = {f":c{i}": {"N": str(n)} for i, n in enumerate(deltas.values())}
    values |= {":one": {"N": "1"}, ":now": {"S": now_iso}}
    adds = "".join(f"#c{i} :c{i}, " for i in range(len(deltas)))
    params: dict[str, Any] = {
        "TableName": table,
        "Key": {"tenantId": {"S": ref.tenant_id}, "campaignId": {"S": ref.campaign_id}},
        "UpdateExpression": f"ADD {adds}statsVersion :one SET updatedAt = :now",
        "ConditionExpression": "attribute_exists(campaignId)",
        "ExpressionAttributeValues": values,
    }
    if names:
        params["ExpressionAttributeNames"] = names
    return params


class CampaignCounters:
    """`{prefix}-campaigns`: ADD the analytics counters of an existing campaign item, bump `statsVersion`; the
    status moves analytics makes (auto-pause; completion when analytics settled a recipient's final state; back to
    `sending` when a soft bounce re-queues a recipient of a finished campaign)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, announcer: TopicAnnouncer | None = None) -> None:
        self._db = dynamodb
        self._table = table
        self._announcer = announcer  # each status move made here, for the webhooks' `campaign.status`

    @staticmethod
    def _key(ref: CampaignRef) -> dict[str, Any]:
        return {"tenantId": {"S": ref.tenant_id}, "campaignId": {"S": ref.campaign_id}}

    async def add(
        self,
        ref: CampaignRef,
        deltas: dict[str, int],
        now_iso: str,
        *,
        want_totals: bool = False,
        together_with: dict[str, Any] | None = None,
    ) -> CampaignTotals | None:
        """None when the campaign does not exist; else, with `want_totals`, its counters and status after the
        addition (an empty `CampaignTotals` without: parsing the whole item back costs CPU on every event).

        `together_with`: a transaction action (an event's `done` mark, `EventLog.completion`) written in the same
        transaction as the addition, all or nothing; its condition failing raises `ClaimLost`."""
        if together_with is not None:
            return await self._add_together(ref, deltas, now_iso, together_with, want_totals=want_totals)
        for attempt in range(TRANSACTION_CONFLICT_ATTEMPTS):
            try:
                response = await self._db.update_item(
                    **counter_update(self._table, ref, deltas, now_iso),
                    ReturnValues="ALL_NEW" if want_totals else "NONE",
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == TRANSACTION_CONFLICT and attempt + 1 < TRANSACTION_CONFLICT_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0.01, 0.05) * 2**attempt)
                    continue
                if not _condition_failed(exc):
                    raise
                return None
            return CampaignTotals.from_item(response.get("Attributes", {}))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _add_together(
        self, ref: CampaignRef, deltas: dict[str, int], now_iso: str, action: dict[str, Any], *, want_totals: bool
    ) -> CampaignTotals | None:
        items: list[Any] = [{"Update": counter_update(self._table, ref, deltas, now_iso)}, action]
        for attempt in range(TRANSACTION_CONFLICT_ATTEMPTS):
            try:
                await self._db.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != TRANSACTION_CANCELLED:
                    raise
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons") or []]
                if reasons[:1] == [CONDITION_CHECK_FAILED]:
                    return None  # no campaign item: nothing was written
                if reasons[1:2] == [CONDITION_CHECK_FAILED]:
                    raise ClaimLost("the event's lease was taken over before it was counted") from exc
                if attempt + 1 < TRANSACTION_CONFLICT_ATTEMPTS:  # a conflict with the processor's count
                    await asyncio.sleep(random.uniform(0.01, 0.05) * 2**attempt)
                    continue
                raise
            break
        if not want_totals:
            return CampaignTotals(status="", counts={})
        response = await self._db.get_item(TableName=self._table, Key=self._key(ref), ConsistentRead=True)
        return CampaignTotals.from_item(response.get("Item", {}))

    async def _status_move(
        self, ref: CampaignRef, move: Move[CampaignStatus], update: str, values: dict[str, Any]
    ) -> bool:
        """Make the kit's `move` (its condition; `:target` is its target status), with `update` setting the rest."""
        condition, sources = move.condition()
        try:
            # `statusVersion` numbers the campaign's status moves in the write that makes each (docs/architecture.md).
            response = await self._db.update_item(
                TableName=self._table,
                Key=self._key(ref),
                UpdateExpression=f"SET #s = :target, {update} ADD statsVersion :one, statusVersion :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":target": move.target_value(), ":one": {"N": "1"}, **sources, **values},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        if self._announcer is not None:
            old = response.get("Attributes") or {}
            message = status_message(
                tenant_id=ref.tenant_id,
                campaign_id=ref.campaign_id,
                status=move.target.value,
                previous_status=old.get("status", {}).get("S"),
                status_reason=values.get(":reason", {}).get("S"),
                status_version=int(old.get("statusVersion", {}).get("N", "0")) + 1,
                at=values.get(":now", {}).get("S", ""),
            )
            try:  # best effort: the next statistics of the campaign carry the move's number too
                await self._announcer.announce(message)
            except (ClientError, BotoCoreError) as exc:
                log.warning("analytics.status_announce_failed", campaignId=ref.campaign_id, error=str(exc))
        return True

    async def pause(self, ref: CampaignRef, reason: str, now_iso: str) -> bool:
        """`sending` → `paused` with `statusReason`; True when this call did it."""
        return await self._status_move(
            ref,
            campaign_move("pause"),
            "statusReason = :reason, updatedAt = :now",
            {":reason": {"S": reason[:500]}, ":now": {"S": now_iso}},
        )

    async def complete_if_done(self, ref: CampaignRef, now_iso: str) -> bool:
        """`sending` → `sent` when every stored recipient is final (the processor's own rule, docs/architecture.md)."""
        return await self._status_move(
            ref, campaign_move("complete"), "sentAt = :now, updatedAt = :now", {":now": {"S": now_iso}}
        )

    async def reopen(self, ref: CampaignRef, now_iso: str) -> bool:
        """`sent` → `sending` when a recipient is queued again (a soft-bounce retry of a finished campaign)."""
        return await self._status_move(
            ref, campaign_move("reopen"), "updatedAt = :now REMOVE sentAt", {":now": {"S": now_iso}}
        )


@dataclass(frozen=True)
class CampaignTotals:
    """The campaign's status and counters, as an update left them."""

    status: str
    counts: dict[str, int]

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CampaignTotals:
        counts = {name: int(float(value["N"])) for name, value in item.items() if "N" in value}
        return cls(status=str(item.get("status", {}).get("S", "")), counts=counts)


class SuppressionList:
    """`{prefix}-suppressions`: pk `tenantId`, sk `email`; the first reason recorded stands."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def add(self, tenant_id: str, email: str, reason: SuppressionReason, campaign_id: str, now_iso: str) -> bool:
        """False when the address was already suppressed (a manual entry or an unsubscribe is kept as it is)."""
        try:
            await self._db.put_item(
                TableName=self._table,
                Item={
                    "tenantId": {"S": tenant_id},
                    "email": {"S": email},
                    "reason": {"S": reason.value},
                    "campaignId": {"S": campaign_id},
                    "createdAt": {"S": now_iso},
                },
                ConditionExpression="attribute_not_exists(email)",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True
