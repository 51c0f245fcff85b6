"""The whole flow (design steps 1–24) with real processes over real HTTP against the embedded emulator.

The emulator and the four services run as subprocesses on free ports with a private resource prefix. A campaign of
600 rows (valid, malformed, duplicate, and SES simulator addresses) is sent; the test then reads what SES accepted
(`/_emulator/ses/messages`) and what the statistics say, and checks both against what the rows alone imply.
"""

from __future__ import annotations

import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_analytics.config import Settings as AnalyticsSettings
from herald_cli.client import HeraldApiError, HeraldClient
from herald_cli.demo_data import demo_recipients
from herald_cli.stack import DevStack
from tests.faults.conftest import aws_client
from tests.timing import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

ROWS = 600
SETTLE_TIMEOUT = 240.0
TEMPLATE_HTML = (
    "<h1>Hello {{ first_name }}</h1><p>Customer {{ customer_no }}: our spring issue.</p>"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    prefix = "e2e" + secrets.token_hex(4)
    with DevStack(prefix=prefix, ports="free", log_dir=tmp_path_factory.mktemp("stack-logs")) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: DevStack) -> Iterator[HeraldClient]:
    with HeraldClient(stack.urls, stack.token("acme", "marketer"), timeout=60) as api:
        yield api


def _normalised(email: str) -> str:
    return email.strip().lower()


def _queued_messages(stack: DevStack) -> int:
    """Messages on the email-jobs and SES-events queues: waiting, delayed (a soft bounce's retry) or being handled."""
    sqs = aws_client(stack, "sqs")
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    urls = [sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in stack.settings.resources.queues]
    return sum(
        int(count)
        for url in urls
        for count in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"].values()
    )


def _wait_until_settled(stack: DevStack, client: HeraldClient, campaign_id: str, expected: dict[str, int]) -> None:
    """Wait until the campaign is sent, every expected counter is reached and no queue holds anything: nothing is in
    flight that could still send or count (a duplicate would show in SES's messages and the counters)."""

    def settled(stats: dict[str, Any]) -> bool:
        reached = all(stats.get(key, 0) >= value for key, value in expected.items())
        return stats["status"] == "sent" and reached and _queued_messages(stack) == 0

    wait_until(lambda: client.campaign_stats(campaign_id), settled, timeout=SETTLE_TIMEOUT, what="campaign settled")


def test_campaign_is_delivered_once_to_every_valid_recipient(stack: DevStack, client: HeraldClient) -> None:
    rows, expect = demo_recipients(ROWS, seed=11)
    client.put_template("spring", subject="Spring news for {{ first_name }}", html=TEMPLATE_HTML)

    campaign = client.create_campaign(
        name="Spring", template_id="spring", from_address="news@example.com", from_name="Acme News"
    )
    campaign_id = campaign["campaignId"]
    assert campaign["status"] == "draft"
    assert client.add_recipients(campaign_id, rows) == expect.intake()

    accepted = client.send_campaign(campaign_id)
    assert accepted == {"campaignId": campaign_id, "status": "sending"}
    # Answered before the sends: a 202 that waited for them would find the whole campaign sent.
    assert client.campaign_stats(campaign_id)["sent"] < expect.stats()["sent"], "the 202 must not wait for the sends"

    with pytest.raises(HeraldApiError) as second:
        client.send_campaign(campaign_id)
    assert second.value.status_code == 409

    wanted = {k: v for k, v in expect.stats().items() if k in ("sent", "delivered", "bounced", "complained", "failed")}
    _wait_until_settled(stack, client, campaign_id, wanted)
    stats = client.campaign_stats(campaign_id)

    # What SES accepted: exactly one message per valid unique recipient, nothing for invalid or duplicate rows.
    messages = httpx.get(f"{stack.emulator_url}/_emulator/ses/messages", timeout=30).json()["messages"]
    ours = [m for m in messages if m["tags"].get("herald-campaign") == campaign_id]
    per_recipient = Counter(_normalised(d) for m in ours for d in m["destinations"])
    valid = {_normalised(r["email"]) for r in rows if "@" in r["email"]} & set(per_recipient)
    assert len(per_recipient) == expect.valid_unique
    # ooto@ bounces softly every time: analytics re-queues it (default budget), each retry one more message.
    retries = AnalyticsSettings.model_fields["analytics_soft_bounce_retries"].default
    soft = {r for r in per_recipient if r.startswith("ooto@")}
    assert len(soft) == expect.soft_bounces
    assert {per_recipient[r] for r in soft} == {1 + retries}
    assert {n for r, n in per_recipient.items() if r not in soft} == {1}, "a recipient got more than one message"
    assert valid == set(per_recipient)
    assert all(m["headers"].get("List-Unsubscribe", "").startswith("<http") for m in ours)
    assert all(m["source"].endswith("news@example.com") or "news@example.com" in m["source"] for m in ours)

    # What the statistics say, against what the rows imply.
    assert stats["status"] == "sent"
    for key in (
        "recipients",
        "queued",
        "sent",
        "delivered",
        "bounced",
        "complained",
        "invalid",
        "failed",
        "softBounced",
        "suppressed",
        "unknown",
        "rejected",
    ):
        assert stats[key] == expect.stats()[key], f"{key}: {stats[key]} != {expect.stats()[key]}"
    # Every recipient is accounted for once: stored ones by their outcome, malformed ones as invalid.
    outcomes = stats["sent"] + stats["failed"] + stats["suppressed"] + stats["invalid"] + stats["unknown"]
    assert outcomes + stats["queued"] == stats["recipients"]
    # Every sent email ended delivered or bounced; the soft bounce ended failed, after its retries.
    assert stats["delivered"] + stats["bounced"] == stats["sent"]
    assert stats["failed"] == stats["softBounced"] == expect.soft_bounces
    assert stats["bounceRate"] == round(stats["bounced"] / stats["sent"], 4)


def test_send_errors_follow_the_contract(stack: DevStack, client: HeraldClient) -> None:
    with pytest.raises(HeraldApiError) as unknown:
        client.send_campaign("camp_00000000000000000000")
    assert unknown.value.status_code == 404

    empty = client.create_campaign(name="Empty", template_id="spring", from_address="news@example.com")
    with pytest.raises(HeraldApiError) as no_recipients:
        client.send_campaign(empty["campaignId"])
    assert no_recipients.value.status_code == 400

    with HeraldClient(stack.urls, stack.token("acme", "viewer")) as viewer, pytest.raises(HeraldApiError) as denied:
        viewer.send_campaign(empty["campaignId"])
    assert denied.value.status_code == 403

    with HeraldClient(stack.urls, stack.token("globex", "marketer")) as other, pytest.raises(HeraldApiError) as hidden:
        other.get_campaign(empty["campaignId"])
    assert hidden.value.status_code == 404
