"""`{prefix}-webhooks` (pk `tenantId`, sk `webhookId`) and `{prefix}-webhook-deliveries` (pk `webhookKey` =
`tenant#webhookId`, sk `deliveryId` = the event id, TTL `expiresAt`; its index `byCreatedAt` is the log). A
delivery's first write is conditional on its absence: that is the dedupe of an event delivered twice by SNS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_common.resources import DELIVERIES_BY_TIME_INDEX

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

_FAILED = "ConditionalCheckFailedException"
DELIVERY_RETENTION_SECONDS = 7 * 24 * 3600  # the delivery log keeps a week


@dataclass(frozen=True)
class Webhook:
    tenant_id: str
    webhook_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: str
    status: str = "active"
    disabled_reason: str | None = None


@dataclass
class Delivery:
    tenant_id: str
    webhook_id: str
    event_id: str
    type: str
    body: str  # the exact bytes signed and sent on every attempt
    created_at: str
    first_attempt_at: int  # epoch s: the 24 h of retries count from here
    status: str = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: int | None = None
    delivered_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _webhook(item: dict[str, Any]) -> Webhook:
    return Webhook(
        tenant_id=item["tenantId"]["S"],
        webhook_id=item["webhookId"]["S"],
        url=item["url"]["S"],
        events=tuple(sorted(item["events"]["SS"])),
        secret=item["secret"]["S"],
        created_at=item["createdAt"]["S"],
        status=item.get("status", {}).get("S", "active"),
        disabled_reason=item.get("disabledReason", {}).get("S"),
    )


def _number(item: dict[str, Any], name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def _delivery(item: dict[str, Any]) -> Delivery:
    """A delivery from its item, or from the log index's copy (without `body` and `firstAttemptAt`: the log needs
    neither)."""
    tenant, _, webhook = item["webhookKey"]["S"].partition("#")
    return Delivery(
        tenant_id=tenant,
        webhook_id=webhook,
        event_id=item["deliveryId"]["S"],
        type=item["type"]["S"],
        body=item.get("body", {}).get("S", ""),
        created_at=item["createdAt"]["S"],
        first_attempt_at=int(item.get("firstAttemptAt", {}).get("N", "0")),
        status=item["status"]["S"],
        attempts=int(item.get("attempts", {}).get("N", "0")),
        last_status_code=_number(item, "lastStatusCode"),
        last_error=item.get("lastError", {}).get("S"),
        next_attempt_at=_number(item, "nextAttemptAt"),
        delivered_at=item.get("deliveredAt", {}).get("S"),
    )


class WebhookStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    async def put(self, webhook: Webhook) -> None:
        await self._db.put_item(
            TableName=self._table,
            Item={
                "tenantId": {"S": webhook.tenant_id},
                "webhookId": {"S": webhook.webhook_id},
                "url": {"S": webhook.url},
                "events": {"SS": list(webhook.events)},
                "secret": {"S": webhook.secret},
                "createdAt": {"S": webhook.created_at},
                "status": {"S": webhook.status},
            },
            ConditionExpression="attribute_not_exists(webhookId)",
        )

    async def list(self, tenant_id: str) -> list[Webhook]:
        items: list[Webhook] = []
        async for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="tenantId = :t",
            ExpressionAttributeValues={":t": {"S": tenant_id}},
        ):
            # The partition also holds the last status seen per campaign (status.py): endpoints only.
            items += [_webhook(dict(i)) for i in page.get("Items", []) if i["webhookId"]["S"].startswith("wh_")]
        return items

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        response = await self._db.get_item(
            TableName=self._table,
            Key={"tenantId": {"S": tenant_id}, "webhookId": {"S": webhook_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _webhook(dict(item)) if item else None

    async def delete(self, tenant_id: str, webhook_id: str) -> bool:
        try:
            await self._db.delete_item(
                TableName=self._table,
                Key={"tenantId": {"S": tenant_id}, "webhookId": {"S": webhook_id}},
                ConditionExpression="attribute_exists(webhookId)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _FAILED:
                return False
            raise
        return True

    async def disable(self, tenant_id: str, webhook_id: str, reason: str, at: str) -> None:
        try:
            await self._db.update_item(
                TableName=self._table,
                Key={"tenantId": {"S": tenant_id}, "webhookId": {"S": webhook_id}},
                UpdateExpression="SET #s = :disabled, disabledReason = :r, disabledAt = :at",
                ConditionExpression="attribute_exists(webhookId)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":disabled": {"S": "disabled"}, ":r": {"S": reason}, ":at": {"S": at}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _FAILED:
                raise


class DeliveryLog:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    @staticmethod
    def _key(tenant_id: str, webhook_id: str, event_id: str) -> dict[str, Any]:
        return {"webhookKey": {"S": f"{tenant_id}#{webhook_id}"}, "deliveryId": {"S": event_id}}

    async def create(self, delivery: Delivery) -> bool:
        """Record a new delivery; False when this event was already recorded for this endpoint."""
        try:
            await self._db.put_item(
                TableName=self._table,
                Item=self._key(delivery.tenant_id, delivery.webhook_id, delivery.event_id)
                | {
                    "type": {"S": delivery.type},
                    "body": {"S": delivery.body},
                    "createdAt": {"S": delivery.created_at},
                    "firstAttemptAt": {"N": str(delivery.first_attempt_at)},
                    "status": {"S": delivery.status},
                    "attempts": {"N": "0"},
                    "expiresAt": {"N": str(delivery.first_attempt_at + DELIVERY_RETENTION_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(deliveryId)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _FAILED:
                return False
            raise
        return True

    async def get(self, tenant_id: str, webhook_id: str, event_id: str) -> Delivery | None:
        response = await self._db.get_item(
            TableName=self._table, Key=self._key(tenant_id, webhook_id, event_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _delivery(dict(item)) if item else None

    async def record_attempt(self, delivery: Delivery) -> None:
        """Store the outcome of the attempt just made (status, count, answer, when the next one is due)."""
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": {"S": delivery.status}, ":n": {"N": str(delivery.attempts)}}
        sets = ["#s = :s", "attempts = :n"]
        removes = []
        optional = {
            "lastStatusCode": {"N": str(delivery.last_status_code)} if delivery.last_status_code is not None else None,
            "lastError": {"S": delivery.last_error} if delivery.last_error else None,
            "nextAttemptAt": {"N": str(delivery.next_attempt_at)} if delivery.next_attempt_at is not None else None,
            "deliveredAt": {"S": delivery.delivered_at} if delivery.delivered_at else None,
        }
        for name, value in optional.items():
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        await self._db.update_item(
            TableName=self._table,
            Key=self._key(delivery.tenant_id, delivery.webhook_id, delivery.event_id),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    async def list(self, tenant_id: str, webhook_id: str, limit: int) -> list[Delivery]:
        """The endpoint's `limit` newest deliveries, newest first (the log index: the table's own sort key is the
        event id, which orders nothing)."""
        response = await self._db.query(
            TableName=self._table,
            IndexName=DELIVERIES_BY_TIME_INDEX,
            KeyConditionExpression="webhookKey = :k",
            ExpressionAttributeValues={":k": {"S": f"{tenant_id}#{webhook_id}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_delivery(dict(item)) for item in response.get("Items", [])]


def payload_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
