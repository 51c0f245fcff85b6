"""Counting many SES events in one DynamoDB transaction: dedupe records, ledger moves, suppressions, counters.

One TransactWriteItems (at most 100 actions) per chunk of a batch: for each event the conditional ledger move
and, for an open (transitions.ROW_DEDUPED), a Put of its `{prefix}-events` record (`done`, conditional on the event
being new); for each hard bounce or complaint an idempotent suppression (the first reason recorded stands); for
each campaign ONE counter update with the summed deltas. All of it lands or none of it does, so an event is never
half counted, and a redelivery finds the row already moved (or its record) and changes nothing.

When a condition fails (a row another event moved meanwhile, an event already known, in flight or half done by
the one-at-a-time path) the transaction is cancelled; those events are handed back for the one-at-a-time path and
the rest are committed again without them. A campaign that does not exist fails its counter update: its events
count nothing. A conflict with another transaction on the same items (the processor's counts) is retried.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_analytics.events.ledger import ledger_update
from herald_analytics.events.repository import counter_update

if TYPE_CHECKING:
    from collections.abc import Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_analytics.events.ledger import LedgerRow
    from herald_analytics.events.schemas import CampaignRef, SuppressionReason
    from herald_analytics.events.transitions import Transition

log = structlog.get_logger("herald.analytics")

# DynamoDB limit: at most 100 actions per TransactWriteItems, each on a different item.
TRANSACTION_MAX_ACTIONS = 100
COMMIT_ATTEMPTS = 6
CANCELLED = "TransactionCanceledException"
# Cancellation reasons worth another try as they are (someone else's transaction, or throttling).
_TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


@dataclass(frozen=True)
class CountingWrite:
    """One recipient's share of an event: the ledger move planned on `row`, and what it owes the counters."""

    ref: CampaignRef
    email: str
    event_id: str
    row: LedgerRow
    transition: Transition
    suppression: SuppressionReason | None = None
    record: bool = True  # write the event's `done` record too (False: the row's move is its dedupe)

    @property
    def actions(self) -> int:
        """Its actions in a transaction, besides its campaign's counter update."""
        return 1 + self.record + (self.suppression is not None)


@dataclass
class CommitResult:
    committed: list[CountingWrite] = field(default_factory=list)
    fallback: list[CountingWrite] = field(default_factory=list)  # for the one-at-a-time path
    unknown_campaign: list[CountingWrite] = field(default_factory=list)


def _chunks(writes: Sequence[CountingWrite]) -> list[list[CountingWrite]]:
    """Writes grouped by campaign and packed so each chunk's actions fit in one transaction."""
    ordered = sorted(writes, key=lambda w: (w.ref.tenant_id, w.ref.campaign_id))
    chunks: list[list[CountingWrite]] = []
    size, campaigns = 0, set[object]()
    for write in ordered:
        cost = write.actions + (0 if write.ref in campaigns else 1)
        if not chunks or size + cost > TRANSACTION_MAX_ACTIONS:
            chunks.append([])
            size, campaigns = 0, set()
            cost = write.actions + 1
        chunks[-1].append(write)
        campaigns.add(write.ref)
        size += cost
    return chunks


class CountingStore:
    """The one transaction a batch of events is counted with (module docstring)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        *,
        events_table: str,
        ledger_table: str,
        campaigns_table: str,
        suppressions_table: str,
        ttl_seconds: int,
    ) -> None:
        self._db = dynamodb
        self._events = events_table
        self._ledger = ledger_table
        self._campaigns = campaigns_table
        self._suppressions = suppressions_table
        self._ttl = ttl_seconds

    async def commit(self, writes: Sequence[CountingWrite], now: int, now_iso: str) -> CommitResult:
        result = CommitResult()
        for chunk in _chunks(writes):
            await self._commit_chunk(chunk, now, now_iso, result)
        return result

    async def _commit_chunk(self, chunk: list[CountingWrite], now: int, now_iso: str, result: CommitResult) -> None:
        for attempt in range(COMMIT_ATTEMPTS):
            if not chunk:
                return
            actions, owners = self._actions(chunk, now, now_iso)
            try:
                await self._db.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != CANCELLED:
                    # Something about one event DynamoDB will not take (a row grown too large, …): count each on
                    # its own, so one bad event cannot hold up the others.
                    log.warning("analytics.batch_commit_failed", events=len(chunk), error=str(exc))
                    result.fallback += chunk
                    return
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons") or []]
                failed = {owners[i] for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
                if failed:
                    chunk = self._drop(chunk, failed, result)
                    continue
                if reasons and all(code in _TRANSIENT_REASONS or code == "None" for code in reasons):
                    await asyncio.sleep(random.uniform(0, 0.02 * 2**attempt))
                    continue
                log.warning("analytics.batch_commit_failed", events=len(chunk), reasons=sorted(set(reasons)))
                result.fallback += chunk
                return
            result.committed += chunk
            return
        result.fallback += chunk  # kept conflicting: the one-at-a-time path has its own retries

    @staticmethod
    def _drop(chunk: list[CountingWrite], failed: set[object], result: CommitResult) -> list[CountingWrite]:
        """The chunk without the writes whose condition failed (handed back) and without unknown campaigns."""
        kept: list[CountingWrite] = []
        for write in chunk:
            if write.ref in failed:
                result.unknown_campaign.append(write)
            elif id(write) in failed:
                result.fallback.append(write)
            else:
                kept.append(write)
        return kept

    def _actions(self, chunk: list[CountingWrite], now: int, now_iso: str) -> tuple[list[Any], list[object]]:
        """The transaction's actions and, for each, who it belongs to (a write's id, or a campaign ref)."""
        actions: list[Any] = []
        owners: list[object] = []
        deltas: dict[CampaignRef, dict[str, int]] = defaultdict(dict)
        suppressed: set[tuple[str, str]] = set()
        expires = str(now + self._ttl)
        for write in chunk:
            if write.record:
                actions.append(
                    {
                        "Put": {
                            "TableName": self._events,
                            "Item": {
                                "eventId": {"S": write.event_id},
                                "state": {"S": "done"},
                                "expiresAt": {"N": expires},
                            },
                            "ConditionExpression": "attribute_not_exists(eventId)",
                        }
                    }
                )
                owners.append(id(write))
            actions.append(
                {"Update": ledger_update(self._ledger, write.ref, write.email, write.row, write.transition, None)}
            )
            owners.append(id(write))
            if write.suppression is not None and (write.ref.tenant_id, write.email) not in suppressed:
                suppressed.add((write.ref.tenant_id, write.email))
                actions.append({"Update": self._suppression(write, now_iso)})
                owners.append(id(write))
            totals = deltas[write.ref]
            for name, n in write.transition.deltas.items():
                totals[name] = totals.get(name, 0) + n
        for ref, totals in deltas.items():
            actions.append(
                {"Update": counter_update(self._campaigns, ref, {k: n for k, n in totals.items() if n}, now_iso)}
            )
            owners.append(ref)
        return actions, owners

    def _suppression(self, write: CountingWrite, now_iso: str) -> dict[str, Any]:
        """Idempotent: an address already on the list keeps its first reason, campaign and time."""
        assert write.suppression is not None
        return {
            "TableName": self._suppressions,
            "Key": {"tenantId": {"S": write.ref.tenant_id}, "email": {"S": write.email}},
            "UpdateExpression": (
                "SET #r = if_not_exists(#r, :r), campaignId = if_not_exists(campaignId, :c), "
                "createdAt = if_not_exists(createdAt, :t)"
            ),
            "ExpressionAttributeNames": {"#r": "reason"},
            "ExpressionAttributeValues": {
                ":r": {"S": write.suppression.value},
                ":c": {"S": write.ref.campaign_id},
                ":t": {"S": now_iso},
            },
        }
