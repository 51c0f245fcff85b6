"""`{prefix}-ledger` as analytics sees it: rows read one at a time or many at once, and the conditional writes that
move a row forward (docs/architecture.md, ledger)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_analytics.events.repository import _condition_failed

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_analytics.events.schemas import CampaignRef
    from herald_analytics.events.transitions import Requirement, Transition

# DynamoDB limit: at most 100 keys per BatchGetItem call; throttled keys come back as UnprocessedKeys.
BATCH_GET_MAX_KEYS = 100
BATCH_GET_ATTEMPTS = 6


@dataclass(frozen=True)
class LedgerRow:
    """The analytics view of one recipient's ledger row."""

    values: dict[str, str]  # string attributes (state, messageId, delivery, complainedAt, …)
    version: int  # analyticsVersion: optimistic lock for analytics' own writes
    counted: dict[str, dict[str, int]]  # eventId → counter deltas it was counted with (crash replay)
    processor_counted: bool = False  # the processor's `counted`: this final state is in the campaign counters
    numbers: dict[str, int] = field(default_factory=dict)  # number attributes (softBounceRetries, attempt, …)


def _requirement_condition(require: Requirement, values: dict[str, Any]) -> str:
    """The condition on the processor's attributes a transition needs (resends.py)."""
    values[":rstate"] = {"S": require.state}
    parts = ["#s = :rstate"]
    if require.message_id is not None:
        values[":rmid"] = {"S": require.message_id}
        parts.append("messageId = :rmid")
    if require.no_message_id:
        parts.append("attribute_not_exists(messageId)")
    if require.counted is True:
        values[":rtrue"] = {"BOOL": True}
        parts.append("counted = :rtrue")
    elif require.counted is False:
        parts.append("attribute_not_exists(counted)")
    return " AND ".join(parts)


class DeliveryLedger:
    """`{prefix}-ledger`: analytics writes `delivery`, the `*At` flags and its bookkeeping, conditionally."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    @staticmethod
    def _key(ref: CampaignRef, email: str) -> dict[str, Any]:
        return {"campaignKey": {"S": ref.ledger_key}, "email": {"S": email}}

    async def read(self, ref: CampaignRef, email: str) -> LedgerRow | None:
        """The row, strongly consistent; None when the processor never claimed this recipient."""
        response = await self._db.get_item(TableName=self._table, Key=self._key(ref, email), ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return None if item is None else row_from_item(item)

    async def read_many(self, keys: Iterable[tuple[CampaignRef, str]]) -> dict[tuple[str, str], LedgerRow]:
        """Many rows at once (BatchGetItem, strongly consistent), by (ledger key, email); missing rows are absent."""
        wanted = list(dict.fromkeys((ref.ledger_key, email) for ref, email in keys))
        rows: dict[tuple[str, str], LedgerRow] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX_KEYS):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [
                        {"campaignKey": {"S": key}, "email": {"S": email}}
                        for key, email in wanted[start : start + BATCH_GET_MAX_KEYS]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(BATCH_GET_ATTEMPTS):
                response = await self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    rows[(item["campaignKey"]["S"], item["email"]["S"])] = row_from_item(item)
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
                await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))  # throttled: back off, ask for the rest
            else:
                raise RuntimeError("BatchGetItem kept leaving keys unprocessed")
        return rows

    async def apply(self, ref: CampaignRef, email: str, row: LedgerRow, transition: Transition, event_id: str) -> bool:
        """Write `transition` if the row is still as read (False otherwise: re-read and plan again).

        The event id and its deltas are stored on the row in the same write, so a redelivery after a crash can
        tell the transition happened and finish the count with the same deltas.
        """
        try:
            await self._db.update_item(**ledger_update(self._table, ref, email, row, transition, event_id))
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True


def row_from_item(item: Mapping[str, Any]) -> LedgerRow:
    """A ledger item (DynamoDB's typed form) as analytics sees it."""
    counted = {
        event_id: {name: int(n["N"]) for name, n in deltas.get("M", {}).items()}
        for event_id, deltas in item.get("countedEvents", {}).get("M", {}).items()
    }
    return LedgerRow(
        values={name: value["S"] for name, value in item.items() if "S" in value},
        version=int(item.get("analyticsVersion", {}).get("N", "0")),
        counted=counted,
        processor_counted=bool(item.get("counted", {}).get("BOOL", False)),
        numbers={name: int(value["N"]) for name, value in item.items() if "N" in value},
    )


def ledger_update(
    table: str, ref: CampaignRef, email: str, row: LedgerRow, transition: Transition, event_id: str | None
) -> dict[str, Any]:
    """The UpdateItem (or transaction Update) that writes `transition` if the row is still as read.

    With `event_id`, the event and its deltas are recorded in `countedEvents` (the one-event-at-a-time path, whose
    counters are added in a later write); without, the caller writes the counters in the same transaction.
    """
    names = {"#a": transition.attribute}
    values: dict[str, Any] = {":value": {"S": transition.value}, ":next": {"N": str(row.version + 1)}}
    sets = ["#a = :value", "analyticsVersion = :next"]
    if event_id is not None:
        counted = {**row.counted, event_id: transition.deltas}
        values[":counted"] = {
            "M": {eid: {"M": {name: {"N": str(n)} for name, n in deltas.items()}} for eid, deltas in counted.items()}
        }
        sets.append("countedEvents = :counted")
    for i, (name, value) in enumerate(transition.also.items()):
        names[f"#x{i}"], values[f":x{i}"] = name, {"S": value}
        sets.append(f"#x{i} = :x{i}")
    for i, (name, number) in enumerate(transition.numbers.items()):
        names[f"#n{i}"], values[f":n{i}"] = name, {"N": str(number)}
        sets.append(f"#n{i} = :n{i}")
    if transition.mark_counted:
        values[":true"] = {"BOOL": True}
        sets.append("counted = :true")
    update = "SET " + ", ".join(sets)
    if transition.remove:
        update += " REMOVE " + ", ".join(transition.remove)
    condition = "attribute_exists(email) AND "
    if row.version:
        condition += "analyticsVersion = :expected"
        values[":expected"] = {"N": str(row.version)}
    else:
        condition += "attribute_not_exists(analyticsVersion)"
    if transition.require is not None:
        names["#s"] = "state"
        condition += " AND " + _requirement_condition(transition.require, values)
    return {
        "TableName": table,
        "Key": {"campaignKey": {"S": ref.ledger_key}, "email": {"S": email}},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
