"""DynamoDB attribute-value conversion and opaque pagination tokens, shared by the repositories."""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from herald_common.errors import BadRequest

Item = dict[str, Any]


def to_attr(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (str, bool, int, float, dict, list, None)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attr(attr: dict[str, Any]) -> Any:
    """One DynamoDB attribute value as a Python value (numbers without a fraction become int)."""
    (kind, raw), *_ = attr.items()
    if kind == "S":
        return raw
    if kind == "N":
        number = Decimal(raw)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attr(v) for v in raw]
    if kind == "SS":
        return set(raw)
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def to_item(values: dict[str, Any]) -> Item:
    return {k: to_attr(v) for k, v in values.items() if v is not None}


def from_item(item: Item) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


def encode_page_token(last_key: Item | None) -> str | None:
    """DynamoDB's LastEvaluatedKey as an opaque URL-safe token (None when there is no next page)."""
    if not last_key:
        return None
    raw = json.dumps(from_item(last_key), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_page_token(token: str | None, *, tenant_id: str, keys: tuple[str, str]) -> Item | None:
    """The ExclusiveStartKey of a token; 400 for a malformed one or one minted for another tenant."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (ValueError, binascii.Error) as exc:
        raise InvalidPageToken("nextToken is not a token this service issued.") from exc
    if (
        not isinstance(values, dict)
        or set(values) != set(keys)
        or not all(isinstance(v, str) for v in values.values())
        or values.get("tenantId") != tenant_id
    ):
        raise InvalidPageToken("nextToken is not a token this service issued.")
    return to_item(values)


class InvalidPageToken(BadRequest):
    code = "InvalidNextToken"
