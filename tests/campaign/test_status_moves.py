"""Every status move the campaign service writes (the campaigns repository and the fan-out store, against the
emulator's DynamoDB) numbers itself in its write and is announced once, by the winner only, with the status before
it, its reason and its number (status_news.write_move). A recording announcer stands in for the webhooks queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald_campaign.campaigns.fanout_store import DueCampaign, DynamoFanoutStore
from herald_campaign.campaigns.models import Campaign, CampaignStatus, new_campaign_id
from herald_campaign.campaigns.repository import DynamoCampaignStore

if TYPE_CHECKING:
    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients

NOW = "2030-01-01T00:00:00.000Z"
SEND_AT = "2030-01-01T01:00:00.000Z"


class RecordingAnnouncer:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def announce(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def _moves(announcer: RecordingAnnouncer) -> list[tuple[int, str, str | None, str | None]]:
    return [(m["statusVersion"], m["status"], m["previousStatus"], m["statusReason"]) for m in announcer.messages]


async def test_each_move_is_numbered_and_announced_once_by_its_winner(
    campaign_settings: Settings, aws: AwsClients
) -> None:
    table = campaign_settings.resources.campaigns_table
    announcer = RecordingAnnouncer()
    campaigns = DynamoCampaignStore(aws.require_dynamodb(), table, announcer)
    fanouts = DynamoFanoutStore(aws.require_dynamodb(), table, announcer)
    campaign = Campaign("acme", new_campaign_id(), "Moves", "newsletter", "news@example.com", NOW, NOW)
    await campaigns.create(campaign)
    assert await campaigns.add_intake("acme", campaign.campaign_id, accepted=2, invalid=0, duplicates=0, now=NOW)

    # draft → scheduled (ALL_NEW: the updated campaign comes back); a second claim loses and announces nothing.
    sets = {"status": CampaignStatus.SCHEDULED.value, "sendAt": SEND_AT}
    scheduled = await campaigns.claim_send("acme", campaign.campaign_id, sets=sets, now=NOW)
    assert scheduled is not None
    assert (scheduled.status, scheduled.send_at) == (CampaignStatus.SCHEDULED, SEND_AT)
    assert await campaigns.claim_send("acme", campaign.campaign_id, sets=sets, now=NOW) is None
    # scheduled → sending by the scheduler (ALL_NEW).
    due = DueCampaign("acme", campaign.campaign_id, CampaignStatus.SCHEDULED, SEND_AT, None)
    started = await fanouts.claim_scheduled(due, owner="me", lease_until=1, now=NOW)
    assert started is not None
    assert started.status is CampaignStatus.SENDING
    assert await fanouts.claim_scheduled(due, owner="me", lease_until=1, now=NOW) is None
    # sending → sent (ALL_OLD: the status before the move is read from the old item).
    sending = [CampaignStatus.SENDING]
    assert await campaigns.transition("acme", campaign.campaign_id, allowed=sending, target=CampaignStatus.SENT,
                                      reason=None, now=NOW)  # fmt: skip
    # sent → sending again (UPDATED_NEW), while a recipient is not final.
    await aws.require_dynamodb().update_item(
        TableName=table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": campaign.campaign_id}},
        UpdateExpression="SET finalCount = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert await campaigns.reopen("acme", campaign.campaign_id, NOW)
    assert not await campaigns.reopen("acme", campaign.campaign_id, NOW)
    assert await campaigns.transition("acme", campaign.campaign_id, allowed=sending, target=CampaignStatus.PAUSED,
                                      reason="Paused by ada", now=NOW)  # fmt: skip
    # paused → failed by the fan-out (ALL_OLD); a second fail finds it failed already.
    assert await fanouts.fail(campaign, reason="x" * 600, now=NOW)
    assert not await fanouts.fail(campaign, reason="again", now=NOW)

    assert _moves(announcer) == [
        (1, "scheduled", "draft", None),
        (2, "sending", "scheduled", None),
        (3, "sent", "sending", None),
        (4, "sending", "sent", None),
        (5, "paused", "sending", "Paused by ada"),
        (6, "failed", "paused", "x" * 500),
    ]
    assert {(m["tenantId"], m["campaignId"], m["at"]) for m in announcer.messages} == {
        ("acme", campaign.campaign_id, NOW)
    }
    stored = await campaigns.get("acme", campaign.campaign_id)
    assert stored is not None
    assert (stored.status, stored.status_reason) == (CampaignStatus.FAILED, "x" * 500)
