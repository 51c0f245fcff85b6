"""The demo's conversation with the APIs and its "settled" rule, against a scripted stand-in for HeraldClient."""

import io

import pytest
from rich.console import Console

from herald_cli.client import HeraldApiError
from herald_cli.demo import DemoOptions, expectation_table, run_demo, stats_table


class ScriptedHerald:
    """Answers like the services would; `stats` is replayed in order, its last entry repeated."""

    def __init__(self, stats):
        self.stats = list(stats)
        self.calls = []
        self.posted_rows = []

    def put_template(self, template_id, **body):
        self.calls.append(("put_template", template_id, body))
        return {"templateId": template_id, "version": 3}

    def delete_suppression(self, email):
        self.calls.append(("delete_suppression", email))
        return False

    def create_campaign(self, **body):
        self.calls.append(("create_campaign", body))
        return {"campaignId": "camp_demo", "status": "draft"}

    def add_recipients(self, campaign_id, rows):
        self.posted_rows = rows
        return {"accepted": 970, "invalid": 15, "duplicates": 15, "total": len(rows)}

    def send_campaign(self, campaign_id, throttle=None):
        self.calls.append(("send_campaign", campaign_id, throttle))
        return {"campaignId": campaign_id, "status": "sending"}

    def campaign_stats(self, campaign_id):
        current = self.stats.pop(0) if len(self.stats) > 1 else self.stats[0]
        if isinstance(current, Exception):
            raise current
        return current


def _stats(status, queued, delivered):
    return {"campaignId": "camp_demo", "status": status, "queued": queued, "delivered": delivered, "updatedAt": "t"}


FAST = {"poll_interval": 0.01, "settle_seconds": 0.05}


def test_follows_until_sent_and_stable():
    herald = ScriptedHerald(
        [
            HeraldApiError(404, "CampaignNotFound", "not yet", "u"),  # a poll that fails is retried
            _stats("sending", 970, 0),
            _stats("sending", 400, 300),
            _stats("sent", 0, 950),
            _stats("sent", 0, 959),  # late delivery events after `sent`: not settled yet
        ]
    )
    console = Console(file=io.StringIO(), width=120)
    result = run_demo(herald, console, DemoOptions(recipients=1000, timeout=10, **FAST))

    assert result.settled
    assert result.stats["delivered"] == 959
    assert len(herald.posted_rows) == 1000
    assert herald.calls[0][0] == "put_template"
    assert "{{ unsubscribe_url }}" in herald.calls[0][2]["html"]
    deleted = {c[1] for c in herald.calls if c[0] == "delete_suppression"}
    assert "bounce@simulator.amazonses.com" in deleted
    assert "complaint@simulator.amazonses.com" in deleted
    assert ("send_campaign", "camp_demo", None) in herald.calls
    create = next(c[1] for c in herald.calls if c[0] == "create_campaign")
    assert create["from_address"] == "news@example.com"

    console.print(stats_table(result), expectation_table(result))
    output = console.file.getvalue()
    assert "camp_demo" in output
    assert "959" in output


@pytest.mark.parametrize("status", ["sending", "failed"])
def test_a_send_that_does_not_finish_is_not_settled(status):
    herald = ScriptedHerald([_stats(status, 500, 10)])
    result = run_demo(herald, Console(file=io.StringIO()), DemoOptions(recipients=100, timeout=0.3, **FAST))
    assert not result.settled
    assert result.stats["status"] == status
