"""The delivery report after a real send (real processes over HTTP, the embedded emulator): its CSV names every
recipient SES got a message for, with the id of the last message, and as many attempts as SES got messages."""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SETTLE_TIMEOUT = 150.0
TEMPLATE_HTML = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
# Delivered ones, an address whose local part a spreadsheet would run, a hard bounce (one message, then suppressed
# for good) and a soft bounce (re-queued by analytics: one message per attempt).
RECIPIENTS = [
    *(f"reader{i}@example.com" for i in range(8)),
    "=1+1@example.com",
    "bounce@simulator.amazonses.com",
    "ooto@simulator.amazonses.com",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    prefix = "rep" + secrets.token_hex(4)
    with DevStack(prefix=prefix, ports="free", log_dir=tmp_path_factory.mktemp("stack-logs")) as running:
        yield running


def _settled(client: HeraldClient, campaign_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = client.campaign_stats(campaign_id)
        if stats["status"] == "sent" and stats["bounced"] >= 1 and stats["failed"] >= 1:
            return stats
        time.sleep(1.0)
    return stats


def test_report_csv_rows_equal_the_ses_messages_per_address(stack: DevStack) -> None:
    token = stack.token("acme", "marketer")
    with HeraldClient(stack.urls, token, timeout=60) as client:
        client.put_template("report", subject="News for {{ first_name }}", html=TEMPLATE_HTML)
        campaign_id = client.create_campaign(name="Report", template_id="report", from_address="news@example.com")[
            "campaignId"
        ]
        client.add_recipients(campaign_id, [{"email": e, "data": {"first_name": "Ada"}} for e in RECIPIENTS])
        client.send_campaign(campaign_id)
        stats = _settled(client, campaign_id)
    assert stats["status"] == "sent", stats

    messages = httpx.get(f"{stack.emulator_url}/_emulator/ses/messages", timeout=30).json()["messages"]
    ours = [m for m in messages if m["tags"].get("herald-campaign") == campaign_id]
    sent_to: dict[str, list[str]] = defaultdict(list)
    for message in ours:  # recorded in the order SES accepted them
        for destination in message["destinations"]:
            sent_to[destination.lower()].append(message["messageId"])

    headers = {"Authorization": f"Bearer {token}", "Accept": "text/csv"}
    answer = httpx.get(f"{stack.urls.analytics}/campaigns/{campaign_id}/report", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(table[0]) == ["email", "state", "messageId", "attempts", "reason", "sentAt", "updatedAt"]
    rows = {r["email"].removeprefix("'") if r["email"].startswith("'=") else r["email"]: r for r in table}

    assert set(rows) == set(sent_to) == {e.lower() for e in RECIPIENTS}
    for email, message_ids in sent_to.items():
        row = rows[email]
        assert row["messageId"] == message_ids[-1], email
        assert int(row["attempts"]) == len(message_ids), email
    assert Counter(len(ids) for ids in sent_to.values())[1] == len(RECIPIENTS) - 1  # only the soft bounce retried
    assert rows["ooto@simulator.amazonses.com"]["state"] == "failed"
    assert rows["ooto@simulator.amazonses.com"]["reason"] == "soft_bounce"
    assert {rows[e]["state"] for e in rows if not e.startswith("ooto@")} == {"sent"}
    assert "'=1+1@example.com" in answer.text  # neutralised in the CSV

    deadline = time.monotonic() + 20.0  # Send events are counted as they arrive: the last may trail the status
    while True:
        summary = httpx.get(
            f"{stack.urls.analytics}/campaigns/{campaign_id}/report",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()["summary"]
        if summary["inDoubt"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert summary["sent"] == len(RECIPIENTS) - 1
    assert summary["failed"] == 1
    # Every attempt's Send event is seen; the soft-bounced row is counted once (its flag survives the retries).
    assert summary["sesSendEvents"] == len(RECIPIENTS)
    assert (summary["reconciled"], summary["inDoubt"]) == (len(RECIPIENTS) - 1, 0)
