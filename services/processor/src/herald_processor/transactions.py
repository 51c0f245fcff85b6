"""DynamoDB TransactWriteItems for many independent conditional writes at once (one per recipient).

A transaction is all or nothing, but the recipients of a batch are independent: when some conditions fail, those
recipients are dropped (another worker took them, or they moved on) and the rest is written again. A cancellation
for a conflict with another transaction, or for throttling, is tried again after a jittered pause.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_processor.repository import error_code

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

# DynamoDB limit (Developer Guide, "TransactWriteItems"): at most 100 actions per transaction.
TRANSACTION_MAX_ITEMS = 100
TRANSACTION_ATTEMPTS = 6


class ExtraConditionFailed(Exception):
    """The condition of a transaction's shared action (say, "the campaign item exists") did not hold."""


class TransactionsKeptConflicting(RuntimeError):
    """A transaction was cancelled for conflicts or throttling TRANSACTION_ATTEMPTS times in a row."""


async def transact_each(
    db: DynamoDBClient,
    keys: Sequence[str],
    action: Callable[[str], Any],
    shared: Callable[[list[str]], Any] | None = None,
) -> set[str]:
    """Write `action(key)` for every key, plus `shared(keys written)` with each transaction, in as few
    transactions as DynamoDB's limit allows; the keys whose condition failed, left unwritten. A failing `shared`
    condition raises ExtraConditionFailed."""
    lost: set[str] = set()
    size = TRANSACTION_MAX_ITEMS - (shared is not None)
    for start in range(0, len(keys), size):
        lost |= await _transact(db, list(keys[start : start + size]), action, shared)
    return lost


async def _transact(
    db: DynamoDBClient, keys: list[str], action: Callable[[str], Any], shared: Callable[[list[str]], Any] | None
) -> set[str]:
    lost: set[str] = set()
    remaining = keys
    for attempt in range(TRANSACTION_ATTEMPTS):
        if not remaining:
            return lost
        actions = [action(k) for k in remaining] + ([shared(remaining)] if shared is not None else [])
        try:
            # The token makes botocore's own retry of this very request idempotent (DynamoDB keeps it 10 minutes).
            await db.transact_write_items(TransactItems=actions, ClientRequestToken=secrets.token_hex(16))
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons: list[Any] = list(exc.response.get("CancellationReasons") or [])
            failed = {k for k, r in zip(remaining, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"}
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[len(remaining) :]):
                raise ExtraConditionFailed from exc
            lost |= failed
            remaining = [k for k in remaining if k not in failed]
            if not failed:
                await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
            continue
        return lost
    raise TransactionsKeptConflicting(f"a transaction of {len(remaining)} writes kept being cancelled")
