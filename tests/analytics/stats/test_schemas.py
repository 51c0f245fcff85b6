"""Statistics computed from a campaign item (docs/architecture.md)."""

from __future__ import annotations

from herald_analytics.stats.schemas import CampaignStats, compute_stats

FIELDS = [
    "campaignId",
    "status",
    "recipients",
    "queued",
    "sent",
    "delivered",
    "bounced",
    "complained",
    "rejected",
    "failed",
    "suppressed",
    "invalid",
    "unknown",
    "opened",
    "clicked",
    "deliveryRate",
    "bounceRate",
    "complaintRate",
    "updatedAt",
    # additive to SPEC.md's object
    "softBounced",
    "machineOpened",
    "machineClicked",
    "openRate",
    "clickRate",
    "statusReason",
]


def test_stats_from_a_sending_campaign():
    item = {
        "tenantId": "acme",
        "campaignId": "camp_1",
        "status": "sending",
        "recipientCount": 1000,
        "intakeInvalidCount": 7,
        "finalCount": 600,
        "sentCount": 590,
        "failedCount": 2,
        "suppressedCount": 3,
        "invalidCount": 4,
        "unknownCount": 1,
        "deliveredCount": 550,
        "bouncedCount": 30,
        "softBouncedCount": 5,
        "complainedCount": 3,
        "rejectedCount": 1,
        "openedCount": 200,
        "machineOpenedCount": 120,
        "machineClickedCount": 7,
        "clickedCount": 50,
        "statsVersion": 99,
        "updatedAt": "2024-01-15T10:31:00.000Z",
    }

    stats = compute_stats(item).model_dump()

    assert list(stats) == FIELDS
    assert stats == {
        "campaignId": "camp_1",
        "status": "sending",
        "recipients": 1007,
        "queued": 400,
        "sent": 590,
        "delivered": 550,
        "bounced": 30,
        "complained": 3,
        "rejected": 1,
        "failed": 2,
        "suppressed": 3,
        "invalid": 11,
        "unknown": 1,
        "opened": 200,
        "clicked": 50,
        "deliveryRate": 0.9322,  # 550 / 590
        "bounceRate": 0.0508,  # 30 / 590
        "complaintRate": 0.0051,  # 3 / 590
        "updatedAt": "2024-01-15T10:31:00.000Z",
        "softBounced": 5,
        "machineOpened": 120,
        "machineClicked": 7,
        "openRate": 0.3636,  # human opens of delivered: 200 / 550, the 120 machine opens left out
        "clickRate": 0.0909,  # 50 / 550
        "statusReason": None,
    }


def test_a_fresh_draft_has_zero_rates_and_everything_queued():
    stats = compute_stats({"campaignId": "camp_2", "status": "draft", "recipientCount": 3})

    assert stats == CampaignStats(
        campaignId="camp_2",
        status="draft",
        recipients=3,
        queued=3,
        sent=0,
        delivered=0,
        bounced=0,
        complained=0,
        rejected=0,
        failed=0,
        suppressed=0,
        invalid=0,
        unknown=0,
        opened=0,
        clicked=0,
        deliveryRate=0.0,
        bounceRate=0.0,
        complaintRate=0.0,
        updatedAt=None,
    )


def test_queued_is_never_negative():
    assert compute_stats({"campaignId": "c", "recipientCount": 2, "finalCount": 5}).queued == 0
