"""Mailbox providers pushing back: DeliveryDelay events and Transient bounces, counted per tenant, recipient domain
and 10-second slot in the throttle table, where the processors' adaptive pacing reads them (README
"Adaptive pacing"). Item `pushback#{tenant}#{slot}`, one counter attribute per domain (`d:{domain}`), expiring
after a day. Best effort: a count lost to a failed write only makes pacing a little less cautious, so it never
holds up the counting of the events.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import structlog

from herald_analytics.events.schemas import BounceType, EventType

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_analytics.events.schemas import SesEvent

log = structlog.get_logger("herald.analytics.pushback")

SLOT_SECONDS = 10  # the processors' pacing interval is a whole number of slots
TTL_SECONDS = 24 * 3600


def is_pushback(event: SesEvent) -> bool:
    if event.event_type is EventType.DELIVERY_DELAY:
        return True
    return event.event_type is EventType.BOUNCE and event.bounce_type is BounceType.TRANSIENT


def pushback_counts(events: Sequence[SesEvent]) -> Counter[tuple[str, str]]:
    """(tenant, recipient domain) → pushback events among `events` (test sends carry no tenant's campaign)."""
    counts: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event.campaign is None or not is_pushback(event):
            continue
        for recipient in event.recipients:
            counts[(event.campaign.tenant_id, recipient.rpartition("@")[2])] += 1
    return counts


class DynamoPushbackSignals:
    def __init__(self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    async def observe(self, events: Sequence[SesEvent]) -> None:
        counts = pushback_counts(events)
        if not counts:
            return
        now = self._clock()
        slot = int(now // SLOT_SECONDS)
        by_tenant: dict[str, list[tuple[str, int]]] = {}
        for (tenant, domain), n in counts.items():
            by_tenant.setdefault(tenant, []).append((domain, n))
        for tenant, domains in by_tenant.items():
            names = {f"#d{i}": f"d:{domain}" for i, (domain, _) in enumerate(domains)}
            values = {f":n{i}": {"N": str(n)} for i, (_, n) in enumerate(domains)}
            adds = ", ".join(f"#d{i} :n{i}" for i in range(len(domains)))
            try:
                await self._db.update_item(
                    TableName=self._table,
                    Key={"bucketKey": {"S": f"pushback#{tenant}#{slot}"}},
                    UpdateExpression=f"ADD {adds} SET expiresAt = :exp",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values | {":exp": {"N": str(int(now) + TTL_SECONDS)}},
                )
            except Exception as exc:  # best effort (module docstring)
                log.warning("analytics.pushback_not_recorded", tenantId=tenant, error=str(exc))
