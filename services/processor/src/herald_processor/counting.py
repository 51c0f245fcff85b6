"""Counting final outcomes into the campaign's counters exactly once: each recipient's `counted` flag and the
campaign's counters are written in one transaction (docs/architecture.md, ledger)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import structlog

from herald_processor.repository import utc_now_iso
from herald_processor.transactions import ExtraConditionFailed, transact_each

if TYPE_CHECKING:
    from collections.abc import Mapping

    from types_aiobotocore_dynamodb import DynamoDBClient

    from herald_processor.domain import Campaign, LedgerState

log = structlog.get_logger("herald.processor.ledger")


class LedgerCounting:
    """The ledger's tables and keys, and the counting every ledger adapter shares."""

    def __init__(self, dynamodb: DynamoDBClient, ledger_table: str, campaigns_table: str) -> None:
        self._db = dynamodb
        self._table = ledger_table
        self._campaigns = campaigns_table

    def _key(self, campaign: Campaign, email: str) -> dict[str, Any]:
        return {"campaignKey": {"S": campaign.key}, "email": {"S": email}}

    async def count(self, campaign: Campaign, finals: Mapping[str, LedgerState]) -> dict[LedgerState, int]:
        """Add not-yet-counted final recipients to the campaign's counters exactly once; what was counted."""
        # An entry someone else counted meanwhile drops out, and the counter update goes with what is left.
        try:
            lost = await transact_each(
                self._db,
                list(finals),
                lambda email: self._count_action(campaign, email, finals[email]),
                lambda emails: self._counter_action(campaign, {e: finals[e] for e in emails}),
            )
        except ExtraConditionFailed:
            log.warning("processor.campaign_missing_while_counting", campaignId=campaign.campaign_id)
            return {}
        return dict(Counter(state for email, state in finals.items() if email not in lost))

    def _count_action(self, campaign: Campaign, email: str, state: LedgerState) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(campaign, email),
                "UpdateExpression": "SET counted = :true",
                "ConditionExpression": "#s = :state AND attribute_not_exists(counted)",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":true": {"BOOL": True}, ":state": {"S": state.value}},
            }
        }

    def _counter_action(self, campaign: Campaign, chunk: Mapping[str, LedgerState]) -> dict[str, Any]:
        by_state = Counter(chunk.values())
        adds = ", ".join(f"{state.counter} :{state.value}" for state in by_state)
        values: dict[str, Any] = {f":{state.value}": {"N": str(n)} for state, n in by_state.items()}
        values |= {":final": {"N": str(len(chunk))}, ":one": {"N": "1"}, ":now": {"S": utc_now_iso()}}
        return {
            "Update": {
                "TableName": self._campaigns,
                "Key": {"tenantId": {"S": campaign.tenant_id}, "campaignId": {"S": campaign.campaign_id}},
                "UpdateExpression": f"ADD finalCount :final, {adds}, statsVersion :one SET updatedAt = :now",
                "ConditionExpression": "attribute_exists(campaignId)",
                "ExpressionAttributeValues": values,
            }
        }
