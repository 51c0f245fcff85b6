"""SES's own verdict on the account: an `EnforcementStatus` other than HEALTHY (GetAccount: PROBATION while SES
reviews the account, SHUTDOWN once it stopped its sending) pauses every sending campaign of every tenant, since all
of them share the account's reputation. Checked every `HERALD_ANALYTICS_ENFORCEMENT_CHECK_SECONDS`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_analytics.events.schemas import CampaignRef

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sesv2 import SESV2Client

    from herald_analytics.events.guard import CampaignPauser

log = structlog.get_logger("herald.analytics.reputation")

HEALTHY = "HEALTHY"


class AccountEnforcementWatch:
    def __init__(self, sesv2: SESV2Client, dynamodb: DynamoDBClient, campaigns_table: str, pauser: CampaignPauser):
        self._ses = sesv2
        self._db = dynamodb
        self._table = campaigns_table
        self._pauser = pauser

    async def check(self) -> tuple[str, list[CampaignRef]]:
        """The account's enforcement status, and the campaigns this look paused because of it."""
        status = str((await self._ses.get_account()).get("EnforcementStatus") or HEALTHY)
        if status == HEALTHY:
            return status, []
        reason = f"Paused automatically: the SES account's enforcement status is {status}."
        now_iso = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        paused = [ref for ref in await self._sending() if await self._pauser.pause(ref, reason, now_iso)]
        log.error("analytics.account_enforcement", status=status, paused=len(paused))
        return status, paused

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check()
            except (ClientError, BotoCoreError) as exc:  # SES or DynamoDB unreachable: look again next time
                log.warning("analytics.enforcement_check_failed", error=str(exc))
            await asyncio.sleep(interval)

    async def _sending(self) -> list[CampaignRef]:
        refs: list[CampaignRef] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#s = :sending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":sending": {"S": "sending"}},
            "ProjectionExpression": "tenantId, campaignId",
        }
        while True:
            page = await self._db.scan(**kwargs)
            refs += [CampaignRef(i["tenantId"]["S"], i["campaignId"]["S"]) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return refs
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
