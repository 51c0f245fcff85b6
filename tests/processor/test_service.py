"""The batch rules, with fakes of every port: what is sent, what is final, what is counted, and when it comes back."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from herald_processor.domain import (
    BatchDeferred,
    CampaignMissing,
    CampaignStatus,
    LedgerState,
    SendOutcome,
    SendResult,
    TemplateServiceDown,
)
from herald_processor.schemas import parse_job
from tests.processor.conftest import make_campaign


def job(*emails: str, batch: str = "batch_000001") -> object:
    return parse_job(
        json.dumps(
            {
                "campaignId": "camp_0123456789abcdef0123",
                "tenantId": "acme",
                "batchId": batch,
                "recipients": [{"email": e, "data": {"first_name": e.split("@")[0]}} for e in emails],
                "templateId": "newsletter",
                "templateVersion": 2,
                "priority": "normal",
            }
        )
    )


def recipients(world, n: int) -> None:
    world.campaigns.campaign = replace(world.campaigns.campaign, recipient_count=n)


async def test_every_valid_recipient_is_sent_once_and_the_campaign_ends_sent(world):
    report = await world.service().process(job("a@example.com", "b@example.com", "c@example.com"))
    assert sorted(e.destination for e in world.sender.sent) == ["a@example.com", "b@example.com", "c@example.com"]
    assert set(world.ledger.states().values()) == {"sent"}
    assert world.campaigns.counters == {"finalCount": 3, "sentCount": 3}
    assert report.campaign_completed
    assert world.campaigns.campaign.status is CampaignStatus.SENT
    assert len(world.renderer.calls) == 1  # rendered once per batch
    tags = world.sender.sent[0].tags
    assert tags["herald-tenant"] == "acme"
    assert tags["herald-batch"] == "batch_000001"
    assert tags["herald-attempt"] == "1"


async def test_redelivery_sends_nothing_more_and_counts_nothing_twice(world):
    service = world.service()
    await service.process(job("a@example.com", "b@example.com", "c@example.com"))
    world.campaigns.set_status(CampaignStatus.SENDING)  # even if the campaign were still sending
    report = await service.process(job("a@example.com", "b@example.com", "c@example.com"), receive_count=2)
    assert len(world.sender.sent) == 3
    assert report.counted == {}
    assert world.campaigns.counters["finalCount"] == 3
    assert len(world.renderer.calls) == 1  # nothing left to render


async def test_invalid_suppressed_and_duplicate_addresses_are_settled_without_sending(world):
    world.suppressions.emails.add("gone@example.com")
    recipients(world, 4)
    await world.service().process(
        job("ok@example.com", "not-an-address", "Gone@EXAMPLE.com", "OK@example.com", "x@example.com")
    )
    assert [e.destination for e in world.sender.sent] == ["ok@example.com", "x@example.com"]
    assert world.ledger.states() == {
        "not-an-address": "invalid",
        "gone@example.com": "suppressed",
        "ok@example.com": "sent",
        "x@example.com": "sent",
    }
    assert world.campaigns.counters == {"finalCount": 4, "invalidCount": 1, "suppressedCount": 1, "sentCount": 2}


async def test_under_hold_a_crashed_attempt_is_healed_final_counted_expired_unknown_live_deferred(world):
    ledger, now = world.ledger, int(time.time())
    recipients(world, 4)
    await ledger.claim(world.campaigns.campaign, "done@example.com", owner="dead", batch_id="b", lease_seconds=60)
    ledger.rows["done@example.com"].state = LedgerState.SENT  # sent and marked, then the process died: not counted
    await ledger.claim(world.campaigns.campaign, "doubt@example.com", owner="dead", batch_id="b", lease_seconds=60)
    ledger.rows["doubt@example.com"].lease_expires_at = now - 1  # died during the SES call
    await ledger.claim(world.campaigns.campaign, "busy@example.com", owner="alive", batch_id="b", lease_seconds=60)

    with pytest.raises(BatchDeferred) as deferred:
        await world.service(reconcile_window=0, in_doubt="hold").process(
            job("done@example.com", "doubt@example.com", "busy@example.com", "new@example.com")
        )

    assert [e.destination for e in world.sender.sent] == ["new@example.com"]  # never the in-doubt one
    assert ledger.states()["doubt@example.com"] == "unknown"
    assert ledger.states()["busy@example.com"] == "sending"
    assert world.campaigns.counters == {"finalCount": 3, "sentCount": 2, "unknownCount": 1}
    assert 55 <= deferred.value.seconds <= 62  # back when the live lease has run out


async def test_under_hold_an_expired_claim_waits_out_the_reconcile_window_before_it_is_unknown(world):
    ledger, now = world.ledger, int(time.time())
    recipients(world, 2)
    await ledger.claim(world.campaigns.campaign, "doubt@example.com", owner="dead", batch_id="b", lease_seconds=60)
    ledger.rows["doubt@example.com"].lease_expires_at = now - 5  # died during the SES call, 5 s ago

    with pytest.raises(BatchDeferred) as deferred:
        await world.service(reconcile_window=30).process(job("doubt@example.com", "new@example.com"))
    assert [e.destination for e in world.sender.sent] == ["new@example.com"]
    assert ledger.states()["doubt@example.com"] == "sending"  # its Send event may still come
    assert world.campaigns.counters == {"finalCount": 1, "sentCount": 1}
    assert 24 <= deferred.value.seconds <= 27  # back when the window has passed

    ledger.rows["doubt@example.com"].lease_expires_at = now - 31  # the window passed and no event came
    service = world.service(reconcile_window=30, in_doubt="hold")
    await service.process(job("doubt@example.com", "new@example.com"), receive_count=2)
    assert ledger.states()["doubt@example.com"] == "unknown"
    assert [e.destination for e in world.sender.sent] == ["new@example.com"]  # never resent
    assert world.campaigns.counters == {"finalCount": 2, "sentCount": 1, "unknownCount": 1}
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_under_resend_an_in_doubt_recipient_is_sent_again_once_the_window_passed(world):
    ledger, now = world.ledger, int(time.time())
    recipients(world, 2)
    await ledger.claim(world.campaigns.campaign, "doubt@example.com", owner="dead", batch_id="b", lease_seconds=60)
    ledger.rows["doubt@example.com"].lease_expires_at = now - 5  # died during the SES call, 5 s ago

    with pytest.raises(BatchDeferred):  # within the window: its Send event may still come
        await world.service(reconcile_window=30).process(job("doubt@example.com", "new@example.com"))
    assert [e.destination for e in world.sender.sent] == ["new@example.com"]

    ledger.rows["doubt@example.com"].lease_expires_at = now - 31  # the window passed and no event came
    await world.service(reconcile_window=30).process(job("doubt@example.com", "new@example.com"), receive_count=2)
    assert [e.destination for e in world.sender.sent] == ["new@example.com", "doubt@example.com"]
    resent = world.sender.sent[1]
    # The same identity as the first attempt (tags and X-Herald-* headers), told apart only by its attempt.
    assert resent.tags["herald-campaign"] == "camp_0123456789abcdef0123"
    assert b"X-Herald-Recipient: doubt@example.com" in resent.raw
    assert (resent.tags["herald-attempt"], b"X-Herald-Attempt: 2" in resent.raw) == ("2", True)
    row = ledger.rows["doubt@example.com"]
    assert (row.state, row.attempt, row.in_doubt_resends) == (LedgerState.SENT, 2, 1)
    assert world.campaigns.counters == {"finalCount": 2, "sentCount": 2}
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_under_resend_a_recipient_in_doubt_too_often_ends_unknown(world):
    ledger, now = world.ledger, int(time.time())
    recipients(world, 1)
    await ledger.claim(world.campaigns.campaign, "doubt@example.com", owner="dead", batch_id="b", lease_seconds=60)
    row = ledger.rows["doubt@example.com"]
    row.lease_expires_at, row.in_doubt_resends = now - 31, 2  # sent again twice already, never an SES event
    await world.service(reconcile_window=30, in_doubt_max_resends=2).process(job("doubt@example.com"))
    assert world.sender.sent == []
    assert (row.state, row.reason) == (LedgerState.UNKNOWN, "in_doubt_resends_exhausted")


async def test_a_claim_reconciled_as_sent_by_analytics_is_counted_by_the_processor(world):
    ledger, now = world.ledger, int(time.time())
    recipients(world, 2)
    await ledger.claim(world.campaigns.campaign, "doubt@example.com", owner="dead", batch_id="b", lease_seconds=60)
    ledger.rows["doubt@example.com"].lease_expires_at = now - 5
    with pytest.raises(BatchDeferred):
        await world.service(reconcile_window=30).process(job("doubt@example.com", "new@example.com"))

    # The SES Send event arrived: analytics made the row `sent` with its messageId, not counted.
    row = ledger.rows["doubt@example.com"]
    row.state, row.message_id = LedgerState.SENT, "ses-1"
    await world.service(reconcile_window=30).process(job("doubt@example.com", "new@example.com"), receive_count=2)
    assert ledger.states()["doubt@example.com"] == "sent"
    assert [e.destination for e in world.sender.sent] == ["new@example.com"]
    assert world.campaigns.counters == {"finalCount": 2, "sentCount": 2}
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_a_send_reconciled_while_our_lease_ran_out_is_counted_once(world):
    recipients(world, 1)
    ledger = world.ledger

    def reconciled(email):  # the lease runs out during the call; analytics reconciles it from the Send event
        row = ledger.rows[email.destination]
        row.state, row.message_id, row.lease_owner = LedgerState.SENT, "ses-1", None

    world.sender.on_send = reconciled
    await world.service().process(job("a@example.com"))
    assert world.campaigns.counters == {"finalCount": 1, "sentCount": 1}
    assert ledger.entry("a@example.com").counted
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_a_passing_throttle_is_ridden_out_within_the_batch(world):
    refusals = SendOutcome(SendResult.THROTTLED, reason="Throttling: Maximum sending rate exceeded.")
    world.sender.script["b@example.com"] = refusals
    calls: list[str] = []

    def refuse_twice(email):
        calls.append(email.destination)
        if email.destination == "b@example.com" and calls.count("b@example.com") == 3:  # accepted the 3rd time
            world.sender.script.pop("b@example.com")

    world.sender.on_send = refuse_twice
    await world.service(send_concurrency=1).process(job("a@example.com", "b@example.com", "c@example.com"))
    assert calls == ["a@example.com", "b@example.com", "b@example.com", "b@example.com", "c@example.com"]
    assert [e.destination for e in world.sender.sent] == ["a@example.com", "b@example.com", "c@example.com"]
    assert world.ledger.entry("b@example.com").attempt == 3  # each try is a fresh claim, each refusal released it
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_ses_throttling_releases_the_claim_and_defers_the_batch(world):
    world.sender.script["b@example.com"] = SendOutcome(
        SendResult.THROTTLED, reason="Throttling: Maximum sending rate exceeded."
    )
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1, throttle_retries=3).process(
            job("a@example.com", "b@example.com", "c@example.com")
        )
    assert world.ledger.states() == {"a@example.com": "sent", "b@example.com": "pending"}  # c never claimed
    assert world.campaigns.counters == {"finalCount": 1, "sentCount": 1}
    del world.sender.script["b@example.com"]
    await world.service().process(job("a@example.com", "b@example.com", "c@example.com"), receive_count=2)
    assert [e.destination for e in world.sender.sent] == ["a@example.com", "b@example.com", "c@example.com"]
    assert world.ledger.entry("b@example.com").attempt == 4  # three refused claims, then the one that sent
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_under_hold_an_unknown_outcome_is_in_doubt_then_unknown_and_never_resent(world):
    # A 5xx or a timeout: SES may have sent it. The recipient stays `sending` with its lease ended; the batch comes
    # back once the reconcile window is over, and with no Send event by then it is final `unknown` (HERALD_IN_DOUBT
    # =hold).
    world.sender.script["b@example.com"] = SendOutcome(SendResult.UNKNOWN, reason="InternalFailure")
    with pytest.raises(BatchDeferred) as deferred:
        await world.service(reconcile_window=30).process(job("a@example.com", "b@example.com", "c@example.com"))
    assert 31 <= deferred.value.seconds <= 32
    doubt = world.ledger.entry("b@example.com")
    assert doubt.state is LedgerState.SENDING
    assert doubt.lease_expires_at is not None
    assert doubt.lease_expires_at <= time.time()
    assert world.ledger.rows["b@example.com"].reason == "InternalFailure"
    assert world.campaigns.counters == {"finalCount": 2, "sentCount": 2}
    assert world.campaigns.campaign.status is CampaignStatus.SENDING  # not every recipient is final yet

    del world.sender.script["b@example.com"]
    with pytest.raises(BatchDeferred):  # still within the window: waits again, sends nothing
        await world.service(reconcile_window=30).process(job("a@example.com", "b@example.com", "c@example.com"))
    world.ledger.rows["b@example.com"].lease_expires_at = int(time.time()) - 31  # the window passed, no event came
    await world.service(reconcile_window=30, in_doubt="hold").process(
        job("a@example.com", "b@example.com", "c@example.com"), receive_count=3
    )
    assert "b@example.com" not in [e.destination for e in world.sender.sent]
    assert world.ledger.states()["b@example.com"] == "unknown"
    assert world.campaigns.counters == {"finalCount": 3, "sentCount": 2, "unknownCount": 1}
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_an_unknown_outcome_reconciled_from_its_send_event_counts_as_sent(world):
    world.sender.script["b@example.com"] = SendOutcome(SendResult.UNKNOWN, reason="InternalFailure")
    with pytest.raises(BatchDeferred):
        await world.service(reconcile_window=30).process(job("a@example.com", "b@example.com", "c@example.com"))
    world.ledger.rows["b@example.com"].state = LedgerState.SENT  # analytics saw its SES Send event
    await world.service(reconcile_window=30).process(
        job("a@example.com", "b@example.com", "c@example.com"), receive_count=2
    )
    assert [e.destination for e in world.sender.sent] == ["a@example.com", "c@example.com"]
    assert world.campaigns.counters == {"finalCount": 3, "sentCount": 3}
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_a_rejected_message_fails_only_that_recipient(world):
    world.sender.script["b@example.com"] = SendOutcome(SendResult.FAILED, reason="MessageRejected: bad")
    await world.service().process(job("a@example.com", "b@example.com", "c@example.com"))
    assert world.ledger.rows["b@example.com"].state is LedgerState.FAILED
    assert world.ledger.rows["b@example.com"].reason == "MessageRejected: bad"
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_account_sending_paused_pauses_the_campaign(world):
    world.sender.script["a@example.com"] = SendOutcome(SendResult.PAUSE, reason="SendingPausedException: paused")
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1).process(job("a@example.com", "b@example.com"))
    assert world.campaigns.campaign.status is CampaignStatus.PAUSED
    assert "SendingPausedException" in (world.campaigns.status_reason or "")
    assert world.sender.sent == []
    assert world.ledger.states() == {"a@example.com": "pending"}


async def test_the_daily_quota_pauses_the_campaign_until_it_frees_up(world):
    world.sender.script["b@example.com"] = SendOutcome(
        SendResult.QUOTA, reason="Throttling: Daily message quota exceeded."
    )
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1, quota_pause_seconds=600).process(
            job("a@example.com", "b@example.com", "c@example.com")
        )
    campaign = world.campaigns.campaign
    assert campaign.status is CampaignStatus.PAUSED
    assert (campaign.status_reason or "").startswith("SES daily sending quota exceeded: sending resumes")
    assert campaign.quota_resume_at == pytest.approx(time.time() + 600, abs=5)
    assert world.ledger.states() == {"a@example.com": "sent", "b@example.com": "pending"}  # released, not lost

    # Before the pause is over, the batch comes back later (as far as SQS lets it wait) and touches nothing.
    with pytest.raises(BatchDeferred) as deferred:
        await world.service().process(job("a@example.com", "b@example.com", "c@example.com"), receive_count=2)
    assert 590 <= deferred.value.seconds <= 601
    assert [e.destination for e in world.sender.sent] == ["a@example.com"]

    # Once it is over, the first batch back resumes the campaign and sends the rest.
    del world.sender.script["b@example.com"]
    world.campaigns.campaign = replace(campaign, quota_resume_at=time.time() - 1)
    await world.service().process(job("a@example.com", "b@example.com", "c@example.com"), receive_count=3)
    assert [e.destination for e in world.sender.sent] == ["a@example.com", "b@example.com", "c@example.com"]
    assert world.campaigns.campaign.status is CampaignStatus.SENT


async def test_a_user_pause_is_never_resumed_by_the_processor(world):
    world.campaigns.campaign = replace(
        world.campaigns.campaign, status=CampaignStatus.PAUSED, status_reason=None, quota_resume_at=time.time() - 60
    )
    with pytest.raises(BatchDeferred):
        await world.service().process(job("a@example.com"))
    assert world.campaigns.campaign.status is CampaignStatus.PAUSED
    assert world.sender.sent == []


async def test_a_paused_campaign_defers_without_touching_anything(world):
    world.campaigns.set_status(CampaignStatus.PAUSED)
    with pytest.raises(BatchDeferred) as deferred:
        await world.service(paused_retry_seconds=7).process(job("a@example.com"))
    assert deferred.value.seconds == 7
    assert world.ledger.rows == {}
    assert world.sender.sent == []


async def test_a_cancelled_campaign_settles_its_recipients_as_cancelled(world):
    world.campaigns.set_status(CampaignStatus.CANCELLED)
    await world.service().process(job("a@example.com", "b@example.com"))
    assert set(world.ledger.states().values()) == {"cancelled"}
    assert world.campaigns.counters == {"finalCount": 2, "cancelledCount": 2}
    assert world.campaigns.campaign.status is CampaignStatus.CANCELLED


async def test_cancel_takes_effect_mid_batch(world):
    recipients(world, 5)

    def cancel_after_second(email):
        if len(world.sender.sent) == 1:
            world.campaigns.set_status(CampaignStatus.CANCELLED)

    world.sender.on_send = cancel_after_second
    emails = [f"r{i}@example.com" for i in range(5)]
    await world.service(send_concurrency=1, status_check_interval=0.0).process(job(*emails))
    assert len(world.sender.sent) == 2
    assert sorted(world.ledger.states().values()) == ["cancelled"] * 3 + ["sent"] * 2
    assert world.campaigns.counters["finalCount"] == 5


async def test_pause_mid_batch_leaves_the_rest_pending(world):
    recipients(world, 4)
    world.sender.on_send = lambda email: world.campaigns.set_status(CampaignStatus.PAUSED)
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1, status_check_interval=0.0).process(
            job(*[f"r{i}@example.com" for i in range(4)])
        )
    assert len(world.sender.sent) == 1
    assert "sending" not in world.ledger.states().values()


async def test_missing_template_fails_the_batch_recipients(world):
    world.templates.missing = True
    await world.service().process(job("a@example.com", "b@example.com", "c@example.com"))
    assert {r.reason for r in world.ledger.rows.values()} == {"template_not_found"}
    assert world.campaigns.counters == {"finalCount": 3, "failedCount": 3}


async def test_a_render_error_fails_one_recipient_not_the_batch(world):
    world.renderer.fail_for.add("b@example.com")
    await world.service().process(job("a@example.com", "b@example.com", "c@example.com"))
    assert world.ledger.rows["b@example.com"].reason == "render_error"
    assert len(world.sender.sent) == 2


async def test_template_service_down_retries_the_batch_with_nothing_claimed(world):
    world.renderer.down = True
    with pytest.raises(BatchDeferred) as deferred:
        await world.service().process(job("a@example.com", "bad address", "c@example.com"), receive_count=3)
    assert 1 <= deferred.value.seconds <= 8  # exponential backoff: at most 2 * 2**(3 - 1)
    assert isinstance(deferred.value.__cause__, TemplateServiceDown)
    assert world.ledger.states() == {"bad address": "invalid"}  # settled and counted all the same
    assert world.campaigns.counters == {"finalCount": 1, "invalidCount": 1}


async def test_out_of_time_budget_defers_the_rest_unclaimed(world):
    class SlowThrottle:
        async def acquire(self, key, throttle, *, max_wait):
            return False

    world.throttle = SlowThrottle()  # type: ignore[assignment]
    with pytest.raises(BatchDeferred):
        await world.service().process(job("a@example.com"))
    assert world.ledger.rows == {}
    assert world.sender.sent == []


async def test_header_injection_in_from_name_fails_the_recipient_without_sending(world):
    world.campaigns.campaign = replace(world.campaigns.campaign, from_name="Acme\r\nBcc: victim@example.com")
    recipients(world, 1)
    await world.service().process(job("a@example.com"))
    assert world.sender.sent == []
    assert world.ledger.rows["a@example.com"].reason == "invalid_header"


async def test_an_unknown_campaign_is_an_error(world):
    world.campaigns.campaign = replace(world.campaigns.campaign, campaign_id="camp_other")
    with pytest.raises(CampaignMissing):
        await world.service().process(job("a@example.com"))


async def test_a_chunk_is_claimed_in_one_write_right_before_its_calls_and_settled_in_one_after(world):
    emails = [f"r{i:02d}@example.com" for i in range(20)]
    world.campaigns.campaign = make_campaign(recipient_count=20)
    claimed_at_send: list[int] = []
    world.sender.on_send = lambda _: claimed_at_send.append(
        sum(r.state is LedgerState.SENDING for r in world.ledger.rows.values())
    )
    await world.service(send_concurrency=8).process(job(*emails))
    assert len(world.sender.sent) == 20
    # Slots are always free here, so the chunks are as large as `send_concurrency` allows: 8, 8 and the last 4. At each
    # call exactly its own chunk is claimed (never a recipient of a later chunk), and the earlier chunks are settled.
    assert claimed_at_send == [8] * 8 + [8] * 8 + [4] * 4
    assert (world.ledger.claim_writes, world.ledger.settle_writes) == (3, 3)
    assert world.campaigns.counters == {"finalCount": 20, "sentCount": 20}


async def test_a_chunk_is_only_as_large_as_the_send_slots_free_now(world):
    class TwoAtATime:
        """Two slots free at once; after that, a slot only for whoever may wait for it."""

        def __init__(self) -> None:
            self.free = 2

        async def acquire(self, key, throttle, *, max_wait):
            if self.free == 0:
                if max_wait <= 0:
                    return False
                self.free = 2  # a wait refills the bucket
            self.free -= 1
            return True

    world.throttle = TwoAtATime()  # type: ignore[assignment]
    emails = [f"r{i}@example.com" for i in range(6)]
    world.campaigns.campaign = make_campaign(recipient_count=6)
    await world.service(send_concurrency=8).process(job(*emails))
    assert len(world.sender.sent) == 6
    assert world.ledger.claim_sizes == [2, 2, 2]  # chunks of 2: never a claim for a recipient without a slot


async def test_a_claim_taken_and_given_back_since_the_snapshot_is_not_claimed(world):
    campaign = world.campaigns.campaign
    original = world.ledger.snapshot

    async def snapshot_then_someone_claims_and_releases(c, emails):
        seen = await original(c, emails)
        if "b@example.com" in emails and "b@example.com" not in world.ledger.rows:
            await world.ledger.claim(campaign, "b@example.com", owner="other", batch_id="x", lease_seconds=60)
            await world.ledger.release(campaign, "b@example.com", "other")
        return seen

    world.ledger.snapshot = snapshot_then_someone_claims_and_releases  # type: ignore[method-assign]
    with pytest.raises(BatchDeferred):
        await world.service().process(job("a@example.com", "b@example.com", "c@example.com"))
    assert sorted(e.destination for e in world.sender.sent) == ["a@example.com", "c@example.com"]
    assert world.ledger.rows["b@example.com"].state is LedgerState.PENDING  # left for the next look


async def test_a_pause_stops_the_next_chunk_once_the_status_is_read_again(world):
    emails = [f"r{i:02d}@example.com" for i in range(10)]
    world.campaigns.campaign = make_campaign(recipient_count=10)

    def pause_after_the_third(email: object) -> None:
        if len(world.sender.sent) == 2:  # this is the third send
            world.campaigns.set_status(CampaignStatus.PAUSED)

    world.sender.on_send = pause_after_the_third
    # One call at a time and a status read before every chunk: nothing starts after the call that saw the pause.
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1, status_check_interval=1e-9).process(job(*emails))
    assert len(world.sender.sent) == 3
    assert sorted(world.ledger.states().values()) == ["sent"] * 3  # nobody else claimed, nobody left in doubt


async def test_the_status_is_read_again_after_a_long_wait_for_a_send_slot(world):
    emails = [f"r{i}@example.com" for i in range(4)]
    world.campaigns.campaign = make_campaign(recipient_count=4)

    class SlowSlots:
        """A slot for the first at once; the second waits, and the campaign is paused during that wait."""

        def __init__(self) -> None:
            self.given = 0

        async def acquire(self, key, throttle, *, max_wait):
            if self.given == 1:
                if max_wait <= 0:
                    return False
                time.sleep(0.05)  # longer than the status check interval below
                world.campaigns.set_status(CampaignStatus.PAUSED)
            self.given += 1
            return True

    world.throttle = SlowSlots()  # type: ignore[assignment]
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1, status_check_interval=0.01).process(job(*emails))
    assert [e.destination for e in world.sender.sent] == ["r0@example.com"]


async def test_an_in_doubt_recipient_of_a_cancelled_campaign_ends_unknown_not_cancelled(world):
    ledger, now = world.ledger, int(time.time())
    recipients(world, 2)
    await ledger.claim(world.campaigns.campaign, "doubt@example.com", owner="dead", batch_id="b", lease_seconds=60)
    ledger.rows["doubt@example.com"].lease_expires_at = now - 31  # the window passed and no event came
    world.campaigns.set_status(CampaignStatus.CANCELLED)
    await world.service(reconcile_window=30).process(job("doubt@example.com", "new@example.com"))
    assert world.sender.sent == []
    # Its first send may have happened: `unknown`; the one never claimed is `cancelled`.
    assert ledger.states() == {"doubt@example.com": "unknown", "new@example.com": "cancelled"}
    assert ledger.rows["doubt@example.com"].reason == "campaign_cancelled"


async def test_a_pause_while_the_batch_renders_stops_it_before_any_call(world):
    world.campaigns.campaign = make_campaign(recipient_count=3)
    render = world.renderer.render

    async def render_then_pause(tenant_id, template, recipients):
        world.campaigns.set_status(CampaignStatus.PAUSED)  # the pause lands after the batch read the campaign
        return await render(tenant_id, template, recipients)

    world.renderer.render = render_then_pause  # type: ignore[method-assign]
    with pytest.raises(BatchDeferred):
        await world.service(status_check_interval=60).process(job("a@example.com", "b@example.com", "c@example.com"))
    assert world.sender.sent == []


async def test_a_pause_written_while_a_claim_is_made_stops_that_call_and_gives_the_claim_back(world):
    world.campaigns.campaign = make_campaign(recipient_count=2)
    claim = world.ledger.claim_many

    async def claim_then_pause(*args, **kwargs):
        taken = await claim(*args, **kwargs)
        world.campaigns.set_status(CampaignStatus.PAUSED)
        return taken

    world.ledger.claim_many = claim_then_pause  # type: ignore[method-assign]
    with pytest.raises(BatchDeferred):
        await world.service(send_concurrency=1, status_check_interval=1e-9).process(
            job("a@example.com", "b@example.com")
        )
    assert world.sender.sent == []
    assert world.ledger.states() == {"a@example.com": "pending"}  # given back; b never claimed
    assert world.ledger.rows["a@example.com"].attempt == 1
