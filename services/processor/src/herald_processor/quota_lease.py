"""The fleet's lease over the last sends of SES's daily quota.

Two processors that both read "one left" of the quota would both send it, and SES refuses the second ("Daily message
quota exceeded"), which pauses the campaign. Over the last `FRESH_BELOW` sends of the quota (daily_pacing.py) one
item of the throttle table, `daily#account#last`, lets one send at a time go from "read what is left" to "SES
answered": its holder reads SES after taking it, so every send that went before is counted, and gives it back as soon
as its SES call returns. Taken with a conditional write that holds only while the item is free or its holder's lease
has run out; given back with a conditional delete that holds only for its holder (a lease that ran out and was taken
over is the new holder's).

A lease is given back even when its send never happens: the batch was cancelled between taking it and the SES call
(handler timeout, shutdown) or failed. Every path that holds one releases it in a `finally` or an `except
BaseException` (daily_pacing.py, provider_pacing.py, sending.py); a release cancelled while its delete is out sends
the delete again in the background, and a take cancelled while its write is out gives back what the write got. So a
cancelled batch leaves no lease to run out (which would hold the fleet's last sends for LEASE_SECONDS); only a
process that dies holding one does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_common.aws import SES_CONNECT_TIMEOUT, SES_READ_TIMEOUT
from herald_processor.repository import is_condition_failure
from herald_processor.shared_throttle import SEND_LAG_SECONDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

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

# Takes and deletes that outlive their cancelled caller, kept referenced until they end (the loop holds tasks weakly).
_background: set[asyncio.Future[Any]] = set()


def _keep(task: asyncio.Future[Any]) -> None:
    _background.add(task)
    task.add_done_callback(_background.discard)


class QuotaLease:
    """One held lease: give it back (`release`) once the send it covers has had SES's answer. Releasing twice, or a
    lease that ran out and was taken over, is harmless."""

    def __init__(self, leases: QuotaLeases, holder: str) -> None:
        self._leases = leases
        self.holder = holder
        self._released = False

    async def release(self) -> None:
        """Give the lease back. Raises nothing but the caller's own cancellation, and even then the lease goes back:
        the delete is sent again in the background (the first may not have reached the table; a delete of a lease
        already given back fails its condition, harmlessly)."""
        if self._released:
            return
        self._released = True
        try:
            await self._leases.give_back(self.holder)
        except asyncio.CancelledError:
            _keep(asyncio.ensure_future(self._leases.give_back(self.holder)))
            raise

    def release_in_background(self) -> None:
        """Give the lease back without waiting (for a caller being cancelled)."""
        if not self._released:
            self._released = True
            _keep(asyncio.ensure_future(self._leases.give_back(self.holder)))


async def release_all(leases: Iterable[QuotaLease | None]) -> None:
    """Give back every lease of `leases` (None: no lease held). A cancellation meanwhile gives back the rest in the
    background, so none is left to run out."""
    held = [lease for lease in leases if lease is not None]
    for at, lease in enumerate(held):
        try:
            await lease.release()
        except asyncio.CancelledError:
            for rest in held[at + 1 :]:
                rest.release_in_background()
            raise


class QuotaLeases:
    """Takes and gives back the lease in the throttle table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    async def take(self) -> QuotaLease | None:
        """The lease, if it is free or its holder's ran out; None while another send holds it. A caller cancelled
        while the write is out does not leave it taken: the lease, if the write got it, is given back."""
        task: asyncio.Future[QuotaLease | None] = asyncio.ensure_future(self._put())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            _keep(task)
            task.add_done_callback(_give_back_if_taken)
            raise

    async def _put(self) -> QuotaLease | None:
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
        except Exception as exc:  # BotoCoreError (a timeout, a lost connection) or anything else: it runs out by itself
            log.warning("processor.quota_lease_not_released", error=str(exc))


def _give_back_if_taken(task: asyncio.Future[QuotaLease | None]) -> None:
    """A take whose caller was cancelled: the lease goes back if the write got it."""
    if not task.cancelled() and task.exception() is None and (lease := task.result()) is not None:
        lease.release_in_background()
