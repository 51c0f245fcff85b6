"""No recipient left unsent after a crash (issue 15): kill -9 mid-send under SES throttling, a Send event later than
the reconcile window and SES errors under each in-doubt policy (the time from a kill to `sent` with the default
settings: test_crash_recovery_defaults.py). Each test reads what SES accepted (`/_emulator/ses/messages`), the
ledger, the campaign's counters and the statistics."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack
from tests.faults.conftest import (
    FAULT_ENV,
    assert_everyone_once,
    audit,
    batch_story,
    claimed_by,
    dead_letters,
    events_queue_idle,
    extra_processor,
    ledger_items,
    recipients,
    ses_messages,
    set_faults,
    start_campaign,
    wait_for_stats,
    wait_until_sent,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

RESEND_REASON = "in_doubt_resend"
RESENT_REASONS = {RESEND_REASON, "reconciled_send_event"}


@pytest.mark.timeout(420)
def test_six_kill_9_under_throttling_email_every_recipient_exactly_once(
    stack: DevStack, client: HeraldClient, tmp_path: Path, rng: random.Random
) -> None:
    set_faults(stack, sesThrottleRate=0.3)
    rows = recipients(300)
    emails = [r["email"] for r in rows]
    in_doubt: list[int] = []
    with extra_processor(stack, tmp_path):
        # 10 emails/s fleet-wide keeps the campaign going through the six kills.
        campaign_id = start_campaign(client, rows, throttle={"emailsPerMinute": 600})
        for _ in range(6):
            time.sleep(rng.uniform(1.0, 3.0))
            process = stack.process("processor")
            assert process is not None
            stack.kill("processor")  # SIGKILL: claims left mid-send
            in_doubt.append(claimed_by(stack, campaign_id, process.pid))
            stack.restart("processor")
        last_kill = time.monotonic()
        assert client.get_campaign(campaign_id)["status"] == "sending", "kills must land mid-campaign"
        campaign = wait_until_sent(client, campaign_id, timeout=300)
        recovered = time.monotonic() - last_kill
    print(f"\nrecipients in doubt per kill -9: {in_doubt}; last kill to sent: {recovered:.1f} s")
    logs = [stack.log_path("processor"), *sorted(tmp_path.glob("processor-*.log"))]
    assert campaign["status"] == "sent", (
        f"{campaign['status']}; dead-lettered batches: {dead_letters(stack)}\n{batch_story(logs, {'': campaign_id})}"
    )
    assert_everyone_once(stack, client, campaign_id, emails)
    # A resent row says so: its reason is the resend's, unless that resend too was cut off by a later kill and the
    # Send event then settled it (analytics' reconciliation writes its own reason over the processor's).
    resent = [i for i in ledger_items(stack, campaign_id) if "inDoubtResends" in i]
    odd = [
        (i["email"]["S"], i["reason"]["S"], i["attempt"]["N"])
        for i in resent
        if i["reason"]["S"] not in RESENT_REASONS or int(i["attempt"]["N"]) < 2
    ]
    assert odd == [], odd


@pytest.mark.timing
@pytest.mark.timeout(240)
def test_a_send_event_later_than_the_window_means_one_resend_counted_once(
    stack: DevStack, client: HeraldClient
) -> None:
    # SES sends the message but its answer is lost (the processor hears a 500: in doubt), and the Send event comes
    # long after the reconcile window: no evidence of the send, so the recipient is sent again.
    late = float(FAULT_ENV["HERALD_RECONCILE_WINDOW"]) + 40
    set_faults(stack, sesLostAnswerRate=1.0, sesEventDelayMs=late * 1000)
    rows = recipients(1)
    email = rows[0]["email"]
    campaign_id = start_campaign(client, rows)
    deadline = time.monotonic() + 60
    while not ses_messages(stack, campaign_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    first_sent = time.monotonic()
    set_faults(stack)  # the second attempt goes through, its events on time
    campaign = wait_until_sent(client, campaign_id, timeout=90)
    assert campaign["status"] == "sent"
    assert time.monotonic() - first_sent < late, "re-sent before the first Send event came"

    result = audit(stack, campaign_id)
    assert result.per_recipient == {email: 2}  # the price of `resend`: one duplicate
    (row,) = ledger_items(stack, campaign_id)
    assert row["state"]["S"] == "sent"
    assert (row["attempt"]["N"], row["inDoubtResends"]["N"], row["reason"]["S"]) == ("2", "1", RESEND_REASON)
    # Both messages carry the recipient's identity; only the attempt tells them apart.
    assert sorted(m["tags"]["herald-attempt"] for m in result.messages) == ["1", "2"]
    assert {m["tags"]["herald-campaign"] for m in result.messages} == {campaign_id}

    # The late Send (and Delivery) event of the first attempt arrives and is handled: still counted once.
    while time.monotonic() < first_sent + late + 5:
        time.sleep(1.0)
    deadline = time.monotonic() + 60
    while not events_queue_idle(stack) and time.monotonic() < deadline:
        time.sleep(0.5)
    counts = client.get_campaign(campaign_id)["counts"]
    assert (counts["sent"], counts["final"], counts["unknown"]) == (1, 1, 0)
    stats = client.campaign_stats(campaign_id)
    assert (stats["sent"], stats["delivered"], stats["unknown"]) == (1, 1, 0)


@pytest.mark.timeout(200)
def test_ses_internal_errors_are_sent_again_under_resend(stack: DevStack, client: HeraldClient, tmp_path: Path) -> None:
    # SES answers 500 InternalFailure to 10 % of the sends without sending: no Send event comes, so each of those
    # recipients is sent again once the window has passed. Under the default of two resends, a recipient whose three
    # sends all fail ends `unknown` by design, and among 100 recipients that happens in about one run in ten
    # (100 × 0.1³): this campaign's processor allows six, so that takes seven failures in a row (100 × 0.1⁷).
    set_faults(stack, sesErrorRate=0.1)
    stack.kill("processor")  # only the processor allowing six resends handles this campaign
    rows = recipients(100)
    emails = [r["email"] for r in rows]
    with extra_processor(stack, tmp_path, name="processor-resend", env={"HERALD_IN_DOUBT_MAX_RESENDS": "6"}):
        campaign_id = start_campaign(client, rows)
        campaign = wait_until_sent(client, campaign_id, timeout=150)
    assert campaign["status"] == "sent"
    assert_everyone_once(stack, client, campaign_id, emails)
    resent = [i for i in ledger_items(stack, campaign_id) if "inDoubtResends" in i]
    assert resent, "100 sends at 10 %: none failing has a chance of 0.9**100, about 3e-5"
    assert "InternalFailure" in (tmp_path / "processor-resend.log").read_text(errors="replace")


@pytest.mark.timeout(200)
def test_hold_keeps_in_doubt_recipients_unknown_and_never_resends(
    stack: DevStack, client: HeraldClient, tmp_path: Path
) -> None:
    set_faults(stack, sesErrorRate=0.1)
    stack.kill("processor")  # only a processor with HERALD_IN_DOUBT=hold handles this campaign
    rows = recipients(100)
    emails = [r["email"] for r in rows]
    with extra_processor(stack, tmp_path, name="processor-hold", env={"HERALD_IN_DOUBT": "hold"}):
        campaign_id = start_campaign(client, rows)
        campaign = wait_until_sent(client, campaign_id, timeout=150)
    assert campaign["status"] == "sent"
    result = audit(stack, campaign_id)
    states = result.states()
    assert states["unknown"] > 0  # 100 sends at 10 %: none failing has a chance of 0.9**100, about 3e-5
    assert set(states) == {"sent", "unknown"}
    assert all(result.per_recipient[e] == 1 for e, state in result.ledger.items() if state == "sent")
    assert all(result.per_recipient[e] == 0 for e, state in result.ledger.items() if state == "unknown")
    assert sum(result.per_recipient.values()) == states["sent"]
    assert set(result.ledger) == set(emails)
    assert not [i for i in ledger_items(stack, campaign_id) if "inDoubtResends" in i]
    stats = wait_for_stats(client, campaign_id, lambda s: s["sent"] + s["unknown"] == 100)
    assert (stats["sent"], stats["unknown"]) == (states["sent"], states["unknown"])


@pytest.mark.timeout(200)
def test_no_ses_call_starts_more_than_a_second_after_a_pause_answers(
    stack: DevStack, client: HeraldClient, tmp_path: Path
) -> None:
    rows = recipients(300)
    emails = [r["email"] for r in rows]
    with extra_processor(stack, tmp_path):
        campaign_id = start_campaign(client, rows, throttle={"emailsPerMinute": 600})
        deadline = time.monotonic() + 60
        while len(ses_messages(stack, campaign_id)) < 67 and time.monotonic() < deadline:
            time.sleep(0.05)
        client.pause_campaign(campaign_id)
        answered = datetime.now(UTC)
        # Settled: no new message over 3 s (the batches deferred), within 30 s.
        count, still = -1, time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() - still < 3.0 and time.monotonic() < deadline:
            now = len(ses_messages(stack, campaign_id))
            if now != count:
                count, still = now, time.monotonic()
            time.sleep(0.2)
        sent_at = [datetime.fromisoformat(m["sentAt"].replace("Z", "+00:00")) for m in ses_messages(stack, campaign_id)]
        after = sorted(round((t - answered).total_seconds(), 3) for t in sent_at if t > answered)
        print(f"\nsent after the pause answered (s): {after}")
        assert 67 <= len(sent_at) < len(emails)
        assert [s for s in after if s > 1.0] == []
        assert client.get_campaign(campaign_id)["status"] == "paused"

        client.resume_campaign(campaign_id)
        campaign = wait_until_sent(client, campaign_id, timeout=120)
    assert campaign["status"] == "sent"
    assert_everyone_once(stack, client, campaign_id, emails)
