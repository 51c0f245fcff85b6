"""The reputation guard over windows (1 h, 24 h; per tenant and per sending domain): half a limit warns, the limit
pauses the scope's sending campaigns. Against the emulator's DynamoDB, with a clock the test moves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from herald_analytics.events.guard import ReputationPolicy
from herald_analytics.events.repository import CampaignCounters
from herald_analytics.events.reputation_windows import Level, ReputationWindows, WindowCounts, judge
from herald_analytics.events.schemas import BounceType, CampaignRef, EventType, SesEvent

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

POLICY = ReputationPolicy(min_sends=100, max_bounce_rate=0.05, max_complaint_rate=0.001)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Announcements(list[dict[str, Any]]):
    async def append_async(self, document: dict[str, Any]) -> None:
        self.append(document)


def test_judge_warns_at_half_the_limit_and_pauses_at_it() -> None:
    assert judge(WindowCounts(sent=99, bounced=50), POLICY) == (Level.OK, None)  # too few to judge
    assert judge(WindowCounts(sent=1000, bounced=24), POLICY)[0] is Level.OK
    assert judge(WindowCounts(sent=1000, bounced=25), POLICY)[0] is Level.WARN
    assert judge(WindowCounts(sent=1000, bounced=50), POLICY)[0] is Level.PAUSE
    assert judge(WindowCounts(sent=10000, complained=5), POLICY)[0] is Level.WARN
    assert judge(WindowCounts(sent=10000, complained=10), POLICY)[0] is Level.PAUSE


def events(kind: EventType, n: int, domain: str, bounce: BounceType | None = None) -> list[SesEvent]:
    return [
        SesEvent(
            event_type=kind,
            message_id=f"m{i}",
            timestamp="",
            recipients=(f"r{i}@example.org",),
            campaign=CampaignRef("acme", "camp_0123456789abcdef0123"),
            bounce_type=bounce,
            sending_domain=domain,
        )
        for i in range(n)
    ]


async def put_campaign(aws: AwsClients, table: str, campaign_id: str, sender: str) -> None:
    await aws.require_dynamodb().put_item(
        TableName=table,
        Item={
            "tenantId": {"S": "acme"},
            "campaignId": {"S": campaign_id},
            "status": {"S": "sending"},
            "fromAddress": {"S": sender},
        },
    )


async def status(aws: AwsClients, table: str, campaign_id: str) -> str:
    item = await aws.require_dynamodb().get_item(
        TableName=table, Key={"tenantId": {"S": "acme"}, "campaignId": {"S": campaign_id}}, ConsistentRead=True
    )
    return str(item["Item"]["status"]["S"])


async def test_the_windows_warn_then_pause(aws: AwsClients, herald_settings: HeraldSettings) -> None:
    names = herald_settings.resources
    dynamodb = aws.require_dynamodb()
    clock = Clock()
    announced = Announcements()
    windows = ReputationWindows(
        dynamodb,
        names.throttle_table,
        names.campaigns_table,
        CampaignCounters(dynamodb, names.campaigns_table),
        POLICY,
        clock=clock,
        check_interval=0,
        announce=announced.append_async,
    )
    await put_campaign(aws, names.campaigns_table, "camp_news", "news@news.example")
    await put_campaign(aws, names.campaigns_table, "camp_shop", "deals@shop.example")

    # Two hours ago, news.example bounced 3 %: over half the limit in the 24 h window only.
    with structlog.testing.capture_logs() as logs:
        await windows.observe(events(EventType.SEND, 200, "news.example"))
        await windows.observe(events(EventType.BOUNCE, 6, "news.example", BounceType.PERMANENT))
        await windows.observe(events(EventType.BOUNCE, 20, "news.example", BounceType.TRANSIENT))  # not reputation's
    assert [e["event"] for e in logs if e["log_level"] == "warning"][-1] == "analytics.reputation_warning"
    clock.now += 2 * 3600
    assert await windows.check("acme", "domain:news.example") is Level.WARN
    state = await dynamodb.get_item(TableName=names.throttle_table, Key={"bucketKey": {"S": "reputation-state#acme"}})
    assert (state["Item"]["level"]["S"], state["Item"]["window"]["S"]) == ("warn", "24h")
    # Announced once (for the webhook), however often the scope is judged while it stays at the warning.
    # (All of the tenant's sends were news.example's: both scopes warn.)
    assert sorted((a["type"], a["tenantId"], a["warning"]["scope"]) for a in announced) == [
        ("reputation.warning", "acme", "domain:news.example"),
        ("reputation.warning", "acme", "tenant"),
    ]
    assert all("bounce rate" in a["warning"]["reason"] for a in announced)
    assert await status(aws, names.campaigns_table, "camp_news") == "sending"

    # Now: shop.example sends cleanly, news.example bounces 5 % within the hour. The tenant as a whole is still
    # under the limit; news.example's hour is at it, so its campaigns pause and shop.example's go on.
    await windows.observe(events(EventType.SEND, 400, "shop.example"))
    with structlog.testing.capture_logs() as logs:
        await windows.observe(events(EventType.SEND, 100, "news.example"))
        await windows.observe(events(EventType.BOUNCE, 5, "news.example", BounceType.PERMANENT))
    paused = [e for e in logs if e["event"] == "analytics.reputation_paused"]
    assert [(e["scope"], e["window"], e["campaigns"]) for e in paused] == [("domain:news.example", "1h", ["camp_news"])]
    assert await status(aws, names.campaigns_table, "camp_news") == "paused"
    assert await status(aws, names.campaigns_table, "camp_shop") == "sending"
    assert await windows.check("acme", "tenant") is Level.OK  # 11 of 700 in the day: 1.6 %

    # A day later the old bounces have left both windows: the state is clear, and a new warning is news again.
    clock.now += 25 * 3600
    assert await windows.check("acme", "domain:news.example") is Level.OK
    state = await dynamodb.get_item(TableName=names.throttle_table, Key={"bucketKey": {"S": "reputation-state#acme"}})
    assert "Item" not in state
    await windows.observe(events(EventType.SEND, 200, "news.example"))
    await windows.observe(events(EventType.BOUNCE, 6, "news.example", BounceType.PERMANENT))
    assert len(announced) == 4
