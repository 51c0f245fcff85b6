"""The reputation guard over time windows: the last hour and the last 24 hours, per tenant and per sending domain.

A campaign's own totals (guard.py) miss a tenant whose many small campaigns bounce, and a sending domain whose
reputation several campaigns share. So analytics also counts sends, hard bounces and complaints per tenant and per
(tenant, sending domain) in 5-minute slots (throttle-table items `reputation#{tenant}#{scope}#{slot}`, kept two
days) and judges each window once it holds `min_sends`:
- at half a limit (bounce or complaint rate of the guard's policy): a warning, stored as the tenant's reputation
  state (`reputation-state#{tenant}`, which the campaign service's `GET /reputation` and the dashboard's banner
  read) and, when the scope was not already warned, logged (`analytics.reputation_warning`), counted
  (`herald_reputation_warnings_total`) and announced on the campaign-updates topic (`{"type":
  "reputation.warning", …}`), from which the campaign service sends the `reputation.warning` webhook;
- at the limit: every `sending` campaign of the tenant (scope `tenant`) or of that From domain is paused with the
  reason (`analytics.reputation_paused`).
Counting happens as events arrive, before they are counted on their campaign, so an event delivered twice is counted
twice here: the windows lean towards caution.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_analytics.events.schemas import BounceType, CampaignRef, EventType
from herald_common.metrics import REPUTATION_WARNINGS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_analytics.events.guard import CampaignPauser, ReputationPolicy
    from herald_analytics.events.schemas import SesEvent

log = structlog.get_logger("herald.analytics.reputation")

SLOT_SECONDS = 300
WINDOWS = (("1h", 3600), ("24h", 24 * 3600))
TTL_SECONDS = 2 * 24 * 3600
CHECK_INTERVAL_SECONDS = 10.0  # a scope is judged at most this often per analytics process
BATCH_GET_KEYS = 100
TENANT_SCOPE = "tenant"
WARNING_TYPE = "reputation.warning"


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    PAUSE = "pause"


@dataclass(frozen=True)
class WindowCounts:
    sent: int = 0
    bounced: int = 0
    complained: int = 0


def judge(counts: WindowCounts, policy: ReputationPolicy) -> tuple[Level, str | None]:
    """A window's verdict and why; a pure function of its counts."""
    if counts.sent <= 0 or counts.sent < policy.min_sends:
        return Level.OK, None
    bounce, complaint = counts.bounced / counts.sent, counts.complained / counts.sent
    for level, share in ((Level.PAUSE, 1.0), (Level.WARN, 0.5)):
        if bounce >= policy.max_bounce_rate * share:
            return level, f"bounce rate {bounce:.2%} ({counts.bounced} of {counts.sent})"
        if complaint >= policy.max_complaint_rate * share:
            return level, f"complaint rate {complaint:.2%} ({counts.complained} of {counts.sent})"
    return Level.OK, None


def scopes_of(event: SesEvent) -> list[str]:
    scopes = [TENANT_SCOPE]
    if event.sending_domain:
        scopes.append(f"domain:{event.sending_domain}")
    return scopes


def tallies(events: Sequence[SesEvent]) -> Counter[tuple[str, str, str]]:
    """(tenant, scope, counter) → how many, for the events that bear on reputation."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for event in events:
        if event.campaign is None:
            continue
        if event.event_type is EventType.SEND:
            counter = "sent"
        elif event.event_type is EventType.BOUNCE and event.bounce_type is BounceType.PERMANENT:
            counter = "bounced"
        elif event.event_type is EventType.COMPLAINT:
            counter = "complained"
        else:
            continue
        for scope in scopes_of(event):
            counts[(event.campaign.tenant_id, scope, counter)] += len(event.recipients)
    return counts


class ReputationWindows:
    """Counts events into the window slots and judges the scopes they touched (an `SesEventHandler` observer)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        throttle_table: str,
        campaigns_table: str,
        pauser: CampaignPauser,
        policy: ReputationPolicy,
        *,
        clock: Callable[[], float] = time.time,
        check_interval: float = CHECK_INTERVAL_SECONDS,
        announce: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self._announce = announce
        self._db = dynamodb
        self._table = throttle_table
        self._campaigns_table = campaigns_table
        self._pauser = pauser
        self._policy = policy
        self._clock = clock
        self._check_interval = check_interval
        self._checked: dict[tuple[str, str], float] = {}

    async def observe(self, events: Sequence[SesEvent]) -> None:
        counts = tallies(events)
        if not counts:
            return
        now = self._clock()
        slot = int(now // SLOT_SECONDS)
        by_scope: dict[tuple[str, str], dict[str, int]] = {}
        for (tenant, scope, counter), n in counts.items():
            by_scope.setdefault((tenant, scope), {})[counter] = n
        for (tenant, scope), adds in by_scope.items():
            names = {f"#c{i}": name for i, name in enumerate(adds)}
            values = {f":n{i}": {"N": str(n)} for i, n in enumerate(adds.values())}
            await self._db.update_item(
                TableName=self._table,
                Key={"bucketKey": {"S": f"reputation#{tenant}#{scope}#{slot}"}},
                UpdateExpression="ADD " + ", ".join(f"#c{i} :n{i}" for i in range(len(adds))) + " SET expiresAt = :x",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values | {":x": {"N": str(int(now) + TTL_SECONDS)}},
            )
        for tenant, scope in by_scope:
            if now - self._checked.get((tenant, scope), float("-inf")) >= self._check_interval:
                self._checked[(tenant, scope)] = now
                await self.check(tenant, scope)

    async def window(self, tenant_id: str, scope: str, seconds: int) -> WindowCounts:
        last = int(self._clock() // SLOT_SECONDS)
        keys = [
            f"reputation#{tenant_id}#{scope}#{slot}" for slot in range(last - seconds // SLOT_SECONDS + 1, last + 1)
        ]
        totals: Counter[str] = Counter()
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: Any = {
                self._table: {"Keys": [{"bucketKey": {"S": k}} for k in keys[start : start + BATCH_GET_KEYS]]}
            }
            while request:
                answer = await self._db.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    for name in ("sent", "bounced", "complained"):
                        totals[name] += int(item.get(name, {}).get("N", "0"))
                request = answer.get("UnprocessedKeys") or None
        return WindowCounts(totals["sent"], totals["bounced"], totals["complained"])

    async def check(self, tenant_id: str, scope: str) -> Level:
        """Judge both windows of one scope; warn or pause on the worse verdict."""
        worst, why, which = Level.OK, None, None
        for name, seconds in WINDOWS:
            level, reason = judge(await self.window(tenant_id, scope, seconds), self._policy)
            if [Level.OK, Level.WARN, Level.PAUSE].index(level) > [Level.OK, Level.WARN, Level.PAUSE].index(worst):
                worst, why, which = level, reason, name
        changed = await self._level_changed(tenant_id, scope, worst)
        if worst is Level.OK:
            if changed:
                await self._clear(tenant_id, scope)
            return worst
        now_iso = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        what = "the tenant" if scope == TENANT_SCOPE else scope.removeprefix("domain:")
        detail = f"{why} over the last {which} for {what}"
        await self._db.put_item(
            TableName=self._table,
            Item={
                "bucketKey": {"S": f"reputation-state#{tenant_id}"},
                "level": {"S": worst.value},
                "scope": {"S": scope},
                "window": {"S": str(which)},
                "reason": {"S": detail},
                "at": {"S": now_iso},
                "expiresAt": {"N": str(int(self._clock()) + TTL_SECONDS)},
            },
        )
        if worst is Level.WARN:
            if changed:  # once per scope until it is back to normal, not at every look
                log.warning(
                    "analytics.reputation_warning", tenantId=tenant_id, scope=scope, window=which, reason=detail
                )
                REPUTATION_WARNINGS.labels(str(which)).inc()
                if self._announce is not None:
                    warning = {"scope": scope, "window": which, "reason": detail, "at": now_iso}
                    await self._announce({"type": WARNING_TYPE, "tenantId": tenant_id, "warning": warning})
            return worst
        reason = f"Paused automatically: {detail} is over the limit."
        paused = [
            ref.campaign_id
            for ref in await self._sending(tenant_id, scope)
            if await self._pauser.pause(ref, reason, now_iso)
        ]
        log.error(
            "analytics.reputation_paused",
            tenantId=tenant_id,
            scope=scope,
            window=which,
            reason=detail,
            campaigns=paused,
        )
        return worst

    async def _level_changed(self, tenant_id: str, scope: str, level: Level) -> bool:
        """Record the scope's level (`reputation-level#{tenant}#{scope}`); True when it differs from the last one
        recorded. Conditional, so of several analytics processes judging the same change only one announces it."""
        try:
            await self._db.update_item(
                TableName=self._table,
                Key={"bucketKey": {"S": f"reputation-level#{tenant_id}#{scope}"}},
                UpdateExpression="SET #l = :l, expiresAt = :x",
                ConditionExpression="attribute_not_exists(#l) OR #l <> :l",
                ExpressionAttributeNames={"#l": "level"},
                ExpressionAttributeValues={
                    ":l": {"S": level.value},
                    ":x": {"N": str(int(self._clock()) + TTL_SECONDS)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def _clear(self, tenant_id: str, scope: str) -> None:
        """The scope is back to normal: its warning leaves the tenant's state (another scope's stays)."""
        try:
            await self._db.delete_item(
                TableName=self._table,
                Key={"bucketKey": {"S": f"reputation-state#{tenant_id}"}},
                ConditionExpression="#sc = :sc",
                ExpressionAttributeNames={"#sc": "scope"},
                ExpressionAttributeValues={":sc": {"S": scope}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    async def _sending(self, tenant_id: str, scope: str) -> list[CampaignRef]:
        """The tenant's `sending` campaigns (of the scope's From domain)."""
        refs: list[CampaignRef] = []
        kwargs: dict[str, Any] = {
            "TableName": self._campaigns_table,
            "KeyConditionExpression": "tenantId = :t",
            "FilterExpression": "#s = :sending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":t": {"S": tenant_id}, ":sending": {"S": "sending"}},
            "ProjectionExpression": "campaignId, fromAddress",
        }
        domain = scope.removeprefix("domain:") if scope != TENANT_SCOPE else None
        while True:
            page = await self._db.query(**kwargs)
            for item in page.get("Items", []):
                sender = item.get("fromAddress", {}).get("S", "")
                if domain is None or sender.lower().endswith("@" + domain):
                    refs.append(CampaignRef(tenant_id, item["campaignId"]["S"]))
            if "LastEvaluatedKey" not in page:
                return refs
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
