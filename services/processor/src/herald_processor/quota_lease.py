"""The fleet's lease over the last sends of SES's daily quota.

Two processors that both read "one left" of the quota would both send it, and SES refuses the second ("Daily message
quota exceeded"), which pauses the campaign. Over the last `FRESH_BELOW` sends of the quota (daily_pacing.py) one
item of the throttle table, `daily#account#last`, lets one send at a time go from "read what is left" to "SES
answered": its holder reads SES after taking it, so every send that went before is counted, and gives it back as soon
as its SES call returns. Taken with a conditional write that holds only while the item is free or its holder's lease
has run out; given back with a conditional delete that holds only for its holder (a lease that ran out and was taken
over is the new holder's).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.aws import SES_CONNECT_TIMEOUT, SES_READ_TIMEOUT
from herald_processor.provider_pacing import SEND_LAG_SECONDS
from herald_processor.repository import is_condition_failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger("herald.processor.pacing")

LEASE_KEY = "daily#account#last"
# A lease must outlast its holder's send, or the next holder's read misses that send and the race is back. The
# holder claims its chunk (up to SEND_LAG_SECONDS on a loaded machine), then makes one SES call, which ends within
# the client's connect and read timeouts (herald_common.aws, no retries). Longer would buy nothing: by then the call
# has ended. Normally the lease is given back within one SES call; it runs out only when its holder died or lost its
# release, and then the fleet's last few sends of the day wait this long once (an expired lease lets the next go).
LEASE_SECONDS = SEND_LAG_SECONDS + SES_CONNECT_TIMEOUT + SES_READ_TIMEOUT
ITEM_TTL_SECONDS = 3600  # a lease item nobody gave back is removed by the table's TTL (any later take overwrites it)


class QuotaLease:
    """One held lease: give it back (`release`) once the send it covers has had SES's answer. Releasing twice, or a
    lease that ran out and was taken over, is harmless."""

    def __init__(self, leases: QuotaLeases, holder: str) -> None:
        self._leases = leases
        self.holder = holder
        self._released = False

    async def release(self) -> None:
        if not self._released:
            self._released = True
            await self._leases.give_back(self.holder)


class QuotaLeases:
    """Takes and gives back the lease in the throttle table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    async def take(self) -> QuotaLease | None:
        """The lease, if it is free or its holder's ran out; None while another send holds it."""
        holder = uuid.uuid4().hex
        now = self._clock()
        try:
            await self._db.put_item(
                TableName=self._table,
                Item={
                    "bucketKey": {"S": LEASE_KEY},
                    "holder": {"S": holder},
                    "leaseUntil": {"N": repr(now + LEASE_SECONDS)},
                    "expiresAt": {"N": str(int(now) + ITEM_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(bucketKey) OR leaseUntil < :now",
                ExpressionAttributeValues={":now": {"N": repr(now)}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return QuotaLease(self, holder)

    async def give_back(self, holder: str) -> None:
        """Free the lease if `holder` still holds it. Never raises: a lease not given back runs out by itself."""
        try:
            await self._db.delete_item(
                TableName=self._table,
                Key={"bucketKey": {"S": LEASE_KEY}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):  # a condition failure: it ran out and another send holds it now
                log.warning("processor.quota_lease_not_released", error=str(exc))
        except BotoCoreError as exc:
            log.warning("processor.quota_lease_not_released", error=str(exc))
