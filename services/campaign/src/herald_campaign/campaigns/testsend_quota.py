"""The per-tenant test-send quota: one conditional counter per tenant and clock hour in `{prefix}-throttle`.

Kept in DynamoDB rather than in memory so the limit holds for the fleet, not per replica: a test send is rare
enough (one write per call) that a shared counter costs nothing, and the point of the limit is that test sends
cannot become an unmetered way to mail people. Keys start with the tenant (`{tenantId}#test-send#{hour}`); the
item expires (`expiresAt`) an hour after its window closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


class DynamoTestSendQuota:
    def __init__(self, dynamodb: DynamoDBClient, table: str, *, per_window: int, window_seconds: int = 3600) -> None:
        self._db = dynamodb
        self._table = table
        self.per_window = per_window
        self._window = window_seconds

    async def take(self, tenant_id: str, count: int, now: float) -> float | None:
        """Count `count` test emails against the tenant's current window: None when they fit (and are counted),
        else the seconds until the window resets (nothing is counted)."""
        window = int(now // self._window)
        retry_after = (window + 1) * self._window - now
        if count > self.per_window:
            return retry_after
        try:
            await self._db.update_item(
                TableName=self._table,
                Key={"bucketKey": {"S": f"{tenant_id}#test-send#{window}"}},
                UpdateExpression="ADD sent :n SET expiresAt = :expires",
                ConditionExpression="attribute_not_exists(sent) OR sent <= :room",
                ExpressionAttributeValues={
                    ":n": {"N": str(count)},
                    ":room": {"N": str(self.per_window - count)},
                    ":expires": {"N": str((window + 2) * self._window)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return retry_after
        return None
