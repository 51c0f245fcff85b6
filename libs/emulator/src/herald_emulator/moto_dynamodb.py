"""DynamoDB as DynamoDB behaves: atomic conditional writes and cheap transactions, inside moto.

moto serves each request on its own thread and evaluates a ConditionExpression without a lock, so two concurrent
conditional writes of one item can both succeed (measured: 2 double wins in 10 races), which breaks exactly the
guarantees Herald builds on (one 202 for two concurrent sends, one claim per recipient). Scans and queries also
iterate dicts that writers change ("dictionary changed size during iteration" → HTTP 500).

moto's `transact_write_items` deep-copies every table it touches before each call so it can roll back; with a
ledger of thousands of rows that is 80–150 ms per call, and unlocked it races with writers. Here a transaction
snapshots only the items it touches, checks every condition before writing anything (as DynamoDB does), and
restores those items if a write fails.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

_LOCK = threading.RLock()

# Every backend operation that reads or writes items runs under one lock (moto's models are not thread-safe).
_LOCKED_METHODS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "create_table",
    "delete_table",
    "update_table",
    "describe_table",
    "update_time_to_live",
)
_TRANSACTION_OPS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_MAX_TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


def _item_key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _restore(backend: DynamoDBBackend, table_name: str, key: dict[str, Any], item: Any) -> None:
    table = backend.get_table(table_name)
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    if item is None:
        table.delete_item(hash_value, range_value)
    elif range_value is not None:
        table.items[hash_value][range_value] = item
    else:
        table.items[hash_value] = item


def _check(backend: DynamoDBBackend, op: dict[str, Any], key: dict[str, Any]) -> tuple[str, str, Any] | None:
    """The cancellation reason of one operation whose condition fails, or None."""
    current = backend.get_item(op["TableName"], key)
    expression = op.get("ConditionExpression")
    if expression is None:
        return None
    condition = get_filter_expression(
        expression, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    if condition.expr(current):
        return None
    old = None
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
        old = current.to_json()["Attributes"]
    return ("ConditionalCheckFailed", "The conditional request failed", old)


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(
            op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values
        )
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values)
    elif op_type == "Update":
        backend.update_item(
            op["TableName"],
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=names or {},
            expression_attribute_values=values or {},
        )


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All conditions are checked first; then every write is applied, or none (touched items restored)."""
    if len(transact_items) > _MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    with _LOCK:
        plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        seen: set[tuple[str, str]] = set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in _TRANSACTION_OPS:
                raise MockValidationException("Unsupported transaction operation")
            key = _item_key(self, op_type, op)
            identity = (op["TableName"], str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            plan.append((op_type, op, key))

        reasons = [_check(self, op, key) for _, op, key in plan]
        if any(reason is not None for reason in reasons):
            raise TransactionCanceledException([reason or (None, None, None) for reason in reasons])

        snapshots = [(op["TableName"], key, copy.deepcopy(self.get_item(op["TableName"], key))) for _, op, key in plan]
        try:
            for op_type, op, key in plan:
                _apply(self, op_type, op, key)
        except Exception:
            for table_name, key, item in snapshots:
                _restore(self, table_name, key, item)
            raise


_applied = False


def apply() -> None:
    """Install once per process (moto's models are process-global)."""
    global _applied
    if _applied:
        return
    for name in _LOCKED_METHODS:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _applied = True
