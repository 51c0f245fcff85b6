"""The delivery ledger on DynamoDB: one item per recipient, every transition a conditional write.

`counted` (BOOL) marks a final entry whose outcome is already in the campaign's counters. Setting it and adding to
the counters happen in one transaction, so an outcome is counted exactly once even when a processor dies between
sending and counting: whoever handles the batch next finds the uncounted final entries and counts them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_processor.domain import LedgerEntry, LedgerState
from herald_processor.repository import batch_get, error_code, is_condition_failure, utc_now_iso

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_processor.domain import Campaign, SendOutcome

log = structlog.get_logger("herald.processor.ledger")

# DynamoDB limit: at most 100 actions per TransactWriteItems; one is the campaign counter update.
TRANSACTION_MAX_LEDGER_ITEMS = 99
_UNCLAIMED = "attribute_not_exists(#s) OR #s = :pending"
_OURS = "#s = :sending AND leaseOwner = :owner"


def parse_entry(item: Mapping[str, Any]) -> LedgerEntry:
    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value and "N" in value else None

    state = item.get("state", {}).get("S")
    return LedgerEntry(
        email=str(item["email"]["S"]),
        state=LedgerState(state) if state else LedgerState.PENDING,
        lease_owner=item.get("leaseOwner", {}).get("S"),
        lease_expires_at=number("leaseExpiresAt"),
        attempt=number("attempt") or 0,
        counted=bool(item.get("counted", {}).get("BOOL", False)),
    )


class DynamoDeliveryLedger:
    """`DeliveryLedger` on the ledger table (pk `campaignKey`, sk `email`)."""

    def __init__(self, dynamodb: DynamoDBClient, ledger_table: str, campaigns_table: str) -> None:
        self._db = dynamodb
        self._table = ledger_table
        self._campaigns = campaigns_table

    def _key(self, campaign: Campaign, email: str) -> dict[str, Any]:
        return {"campaignKey": {"S": campaign.key}, "email": {"S": email}}

    async def _update(
        self, campaign: Campaign, email: str, update: str, condition: str, values: dict[str, Any], **extra: Any
    ) -> dict[str, Any] | None:
        """The conditional UpdateItem every transition is; None when its condition did not hold."""
        try:
            response = await self._db.update_item(
                TableName=self._table,
                Key=self._key(campaign, email),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":now": {"S": utc_now_iso()}, **values},
                **extra,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return dict(response.get("Attributes") or {})

    async def snapshot(self, campaign: Campaign, emails: Sequence[str]) -> dict[str, LedgerEntry]:
        """The current entries of these recipients (absent ones are left out)."""
        keys = [self._key(campaign, e) for e in dict.fromkeys(emails)]
        return {entry.email: entry for entry in map(parse_entry, await batch_get(self._db, self._table, keys))}

    async def claim(
        self, campaign: Campaign, email: str, *, owner: str, batch_id: str, lease_seconds: int
    ) -> LedgerEntry | None:
        """Take the recipient for sending (only if unclaimed): the new entry, or None with the entry left as it was."""
        attributes = await self._update(
            campaign,
            email,
            "SET #s = :sending, leaseOwner = :owner, leaseExpiresAt = :exp, batchId = :batch, updatedAt = :now "
            "ADD attempt :one",
            _UNCLAIMED,
            {
                ":pending": {"S": LedgerState.PENDING.value},
                ":sending": {"S": LedgerState.SENDING.value},
                ":owner": {"S": owner},
                ":exp": {"N": str(int(time.time()) + lease_seconds)},
                ":batch": {"S": batch_id},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
        )
        return parse_entry(attributes) if attributes is not None else None

    async def finalize_unclaimed(
        self, campaign: Campaign, email: str, state: LedgerState, *, batch_id: str, reason: str | None
    ) -> bool:
        """Give an unclaimed recipient a final state without sending (invalid, suppressed, cancelled, failed)."""
        values: dict[str, Any] = {
            ":pending": {"S": LedgerState.PENDING.value},
            ":state": {"S": state.value},
            ":batch": {"S": batch_id},
        }
        update = "SET #s = :state, batchId = :batch, updatedAt = :now"
        if reason:
            update += ", reason = :reason"
            values[":reason"] = {"S": reason}
        return await self._update(campaign, email, update, _UNCLAIMED, values) is not None

    async def resolve_in_doubt(self, campaign: Campaign, entry: LedgerEntry, *, reconcile_window: float = 0.0) -> bool:
        """A claim whose lease ran out more than `reconcile_window` seconds ago with no SES Send event to reconcile
        it: the send may have happened, so it becomes final `unknown`, never re-sent."""
        return (
            await self._update(
                campaign,
                entry.email,
                "SET #s = :unknown, reason = :reason, updatedAt = :now",
                "#s = :sending AND leaseExpiresAt < :cutoff",
                {
                    ":sending": {"S": LedgerState.SENDING.value},
                    ":unknown": {"S": LedgerState.UNKNOWN.value},
                    ":reason": {"S": "lease_expired"},
                    ":cutoff": {"N": str(int(time.time() - reconcile_window))},
                },
            )
            is not None
        )

    async def mark(self, campaign: Campaign, email: str, owner: str, outcome: SendOutcome, state: LedgerState) -> bool:
        """Record the final outcome of our own claim; False when the lease was lost meanwhile."""
        values: dict[str, Any] = {
            ":sending": {"S": LedgerState.SENDING.value},
            ":owner": {"S": owner},
            ":state": {"S": state.value},
        }
        update = "SET #s = :state, updatedAt = :now"
        if outcome.message_id:
            update += ", messageId = :mid"
            values[":mid"] = {"S": outcome.message_id}
        if state is LedgerState.SENT:
            update += ", sentAt = :now"
        if outcome.reason:
            update += ", reason = :reason"
            values[":reason"] = {"S": outcome.reason[:500]}
        return await self._update(campaign, email, update, _OURS, values) is not None

    async def release(self, campaign: Campaign, email: str, owner: str) -> bool:
        """Give our claim back (nothing was sent): the recipient is `pending` again."""
        values = {
            ":sending": {"S": LedgerState.SENDING.value},
            ":owner": {"S": owner},
            ":pending": {"S": LedgerState.PENDING.value},
        }
        update = "SET #s = :pending, updatedAt = :now REMOVE leaseOwner, leaseExpiresAt"
        return await self._update(campaign, email, update, _OURS, values) is not None

    async def count(self, campaign: Campaign, finals: Mapping[str, LedgerState]) -> dict[LedgerState, int]:
        """Add not-yet-counted final recipients to the campaign's counters exactly once; what was counted."""
        counted: Counter[LedgerState] = Counter()
        items = list(finals.items())
        for start in range(0, len(items), TRANSACTION_MAX_LEDGER_ITEMS):
            counted.update(await self._count_chunk(campaign, dict(items[start : start + TRANSACTION_MAX_LEDGER_ITEMS])))
        return dict(counted)

    async def _count_chunk(self, campaign: Campaign, chunk: dict[str, LedgerState]) -> Counter[LedgerState]:
        for attempt in range(6):
            if not chunk:
                return Counter()
            try:
                await self._db.transact_write_items(TransactItems=self._count_actions(campaign, chunk))
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                # An entry someone else counted meanwhile drops out; a conflict is simply tried again.
                lost = {
                    email
                    for email, reason in zip(chunk, reasons, strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if len(reasons) > len(chunk) and reasons[len(chunk)].get("Code") == "ConditionalCheckFailed":
                    log.warning("processor.campaign_missing_while_counting", campaignId=campaign.campaign_id)
                    return Counter()
                chunk = {e: s for e, s in chunk.items() if e not in lost}
                await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
                continue
            return Counter(chunk.values())
        raise RuntimeError("counting the batch's outcomes kept conflicting")

    def _count_actions(self, campaign: Campaign, chunk: Mapping[str, LedgerState]) -> list[Any]:
        actions: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(campaign, email),
                    "UpdateExpression": "SET counted = :true",
                    "ConditionExpression": "#s = :state AND attribute_not_exists(counted)",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {":true": {"BOOL": True}, ":state": {"S": state.value}},
                }
            }
            for email, state in chunk.items()
        ]
        by_state = Counter(chunk.values())
        adds = ", ".join(f"{state.counter} :{state.value}" for state in by_state)
        values: dict[str, Any] = {f":{state.value}": {"N": str(n)} for state, n in by_state.items()}
        values |= {":final": {"N": str(len(chunk))}, ":one": {"N": "1"}, ":now": {"S": utc_now_iso()}}
        actions.append(
            {
                "Update": {
                    "TableName": self._campaigns,
                    "Key": {"tenantId": {"S": campaign.tenant_id}, "campaignId": {"S": campaign.campaign_id}},
                    "UpdateExpression": f"ADD finalCount :final, {adds}, statsVersion :one SET updatedAt = :now",
                    "ConditionExpression": "attribute_exists(campaignId)",
                    "ExpressionAttributeValues": values,
                }
            }
        )
        return actions
