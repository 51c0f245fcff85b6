"""Pure rules: ledger entry decisions, campaign gates, SES error meanings, retry actions, job parsing."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from herald_common.sqs import DeadLetter, RetryAfter
from herald_processor.decisions import (
    EntryAction,
    Gate,
    decide_entry,
    dependency_retry_seconds,
    final_state_for,
    gate_for,
    lease_wait_seconds,
    retry_policy,
    throttle_backoff_seconds,
)
from herald_processor.domain import (
    BatchDeferred,
    CampaignMissing,
    CampaignStatus,
    LedgerEntry,
    LedgerState,
    MalformedJob,
    SendResult,
    TemplateServiceUnavailable,
)
from herald_processor.schemas import Address, check_address, parse_job
from herald_processor.ses import classify_error

NOW = 1_700_000_000


@pytest.mark.parametrize(
    ("entry", "action"),
    [
        (None, EntryAction.SEND),
        (LedgerEntry("a", LedgerState.PENDING), EntryAction.SEND),
        (LedgerEntry("a", LedgerState.SENT, counted=True), EntryAction.SKIP),
        (LedgerEntry("a", LedgerState.SENT), EntryAction.COUNT),
        (LedgerEntry("a", LedgerState.CANCELLED, counted=True), EntryAction.SKIP),
        (LedgerEntry("a", LedgerState.SENDING, "p", NOW + 5), EntryAction.HELD),
        (LedgerEntry("a", LedgerState.SENDING, "p", NOW - 1), EntryAction.IN_DOUBT),
        (LedgerEntry("a", LedgerState.SENDING, "p", None), EntryAction.IN_DOUBT),
    ],
)
def test_ledger_entry_decisions(entry, action):
    assert decide_entry(entry, NOW) is action


@pytest.mark.parametrize(
    ("expires", "action"),
    [
        (NOW + 5, EntryAction.HELD),  # the lease is alive
        (NOW, EntryAction.HELD),
        (NOW - 1, EntryAction.RECONCILING),  # expired lately: its SES Send event may still come
        (NOW - 60, EntryAction.RECONCILING),
        (NOW - 61, EntryAction.IN_DOUBT),  # expired longer than the window ago: final `unknown`
        (None, EntryAction.IN_DOUBT),  # no expiry to wait from
    ],
)
def test_an_expired_claim_is_in_doubt_only_after_the_reconcile_window(expires, action):
    assert decide_entry(LedgerEntry("a", LedgerState.SENDING, "p", expires), NOW, 60) is action


def test_a_final_entry_is_never_in_doubt_whatever_its_lease():
    entry = LedgerEntry("a", LedgerState.SENT, "p", NOW - 600)
    assert decide_entry(entry, NOW, 60) is EntryAction.COUNT


@pytest.mark.parametrize(
    ("status", "gate"),
    [
        (CampaignStatus.SENDING, Gate.PROCEED),
        (CampaignStatus.SENT, Gate.PROCEED),
        (CampaignStatus.PAUSED, Gate.DEFER),
        (CampaignStatus.SCHEDULED, Gate.DEFER),
        (CampaignStatus.DRAFT, Gate.DEFER),
        (CampaignStatus.CANCELLED, Gate.CANCEL),
        (CampaignStatus.FAILED, Gate.CANCEL),
    ],
)
def test_campaign_gates(status, gate):
    assert gate_for(status) is gate


def test_only_sent_failed_and_unknown_are_final_send_results():
    assert final_state_for(SendResult.SENT) is LedgerState.SENT
    assert final_state_for(SendResult.FAILED) is LedgerState.FAILED
    assert final_state_for(SendResult.UNKNOWN) is LedgerState.SENDING  # in doubt, not final
    for result in (SendResult.THROTTLED, SendResult.TRANSIENT, SendResult.PAUSE, SendResult.QUOTA):
        assert final_state_for(result) is None


def client_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail"
    )


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (client_error("Throttling", 400, "Maximum sending rate exceeded."), SendResult.THROTTLED),
        (client_error("TooManyRequestsException", 429), SendResult.THROTTLED),
        (client_error("LimitExceededException", 400), SendResult.THROTTLED),
        (client_error("LimitExceeded", 400), SendResult.THROTTLED),
        (client_error("BadRequestException", 400, "Maximum sending rate exceeded."), SendResult.THROTTLED),
        (client_error("MessageRejected", 400, "Email address is not verified."), SendResult.FAILED),
        (client_error("BadRequestException", 400), SendResult.FAILED),
        (client_error("SendingPausedException", 400), SendResult.PAUSE),
        (client_error("Throttling", 400, "Daily message quota exceeded."), SendResult.QUOTA),
        (client_error("LimitExceededException", 400, "Daily sending quota exceeded"), SendResult.QUOTA),
        (client_error("AccountSuspendedException", 400), SendResult.PAUSE),
        (client_error("InternalFailure", 500), SendResult.UNKNOWN),
        (client_error("ServiceUnavailable", 503), SendResult.UNKNOWN),
        (ReadTimeoutError(endpoint_url="https://email"), SendResult.UNKNOWN),
        (TimeoutError(), SendResult.UNKNOWN),
        (EndpointConnectionError(endpoint_url="https://email"), SendResult.TRANSIENT),
    ],
)
def test_ses_errors_mean_what_they_mean(error, result):
    assert classify_error(error).result is result


def test_a_programming_error_is_not_swallowed_as_an_outcome():
    with pytest.raises(KeyError):
        classify_error(KeyError("bug"))


def test_in_batch_throttle_backoff_is_full_jitter_growing_and_capped():
    for in_a_row, ceiling in ((1, 0.1), (2, 0.2), (4, 0.8), (10, 2.0)):
        pauses = [throttle_backoff_seconds(in_a_row) for _ in range(200)]
        assert all(0.0 <= p <= ceiling for p in pauses)
        assert max(pauses) > ceiling / 2  # jitter spans the range, not a fixed pause


def test_retry_policy():
    assert isinstance(retry_policy(MalformedJob("nope"), 1), DeadLetter)
    assert isinstance(retry_policy(CampaignMissing("gone"), 1), DeadLetter)
    assert retry_policy(BatchDeferred("paused", seconds=8), 3) == RetryAfter(8)
    action = retry_policy(TemplateServiceUnavailable("down"), 3)
    assert isinstance(action, RetryAfter)
    assert 1 <= action.seconds <= 8
    # On the queue's last receive a failing batch is dead-lettered by the processor (and counted), not by SQS.
    assert isinstance(retry_policy(RuntimeError("dynamodb unavailable"), 5, max_receive_count=5), DeadLetter)
    assert isinstance(retry_policy(RuntimeError("dynamodb unavailable"), 4, max_receive_count=5), RetryAfter)
    assert retry_policy(BatchDeferred("paused", seconds=8), 9, max_receive_count=5) == RetryAfter(8)


def test_dependency_retries_back_off_exponentially_with_full_jitter():
    assert {dependency_retry_seconds(1) for _ in range(50)} <= {1}  # whole seconds, at least 1
    for receives, ceiling in ((2, 4), (3, 8), (5, 32), (12, 300)):
        pauses = [dependency_retry_seconds(receives) for _ in range(300)]
        assert all(1 <= p <= ceiling for p in pauses)
        assert max(pauses) > ceiling / 2


def test_lease_wait_is_until_the_last_live_lease_runs_out():
    held = [LedgerEntry("a", LedgerState.SENDING, "p", NOW + 10), LedgerEntry("b", LedgerState.SENDING, "p", NOW + 30)]
    assert lease_wait_seconds(held, NOW) == 31
    assert lease_wait_seconds([], NOW) == 1


def test_an_expired_lease_is_judged_again_after_the_reconcile_window():
    expired = LedgerEntry("a", LedgerState.SENDING, "p", NOW - 10)
    live = LedgerEntry("b", LedgerState.SENDING, "p", NOW + 30)
    assert lease_wait_seconds([expired], NOW, 60) == 51
    assert lease_wait_seconds([expired, live], NOW, 60) == 51
    assert lease_wait_seconds([live], NOW, 60) == 31  # a live lease waits for its own end only


def test_a_job_may_carry_bare_addresses_or_objects():
    job = parse_job(
        '{"campaignId": "camp_abc", "tenantId": "acme", "batchId": "batch_000001", "templateId": "t",'
        ' "recipients": ["a@example.com", {"email": "b@example.com", "data": {"x": 1}},'
        ' {"email": "c@example.com", "data": null}]}'
    )
    assert [(r.email, r.data) for r in job.recipients] == [
        ("a@example.com", {}),
        ("b@example.com", {"x": 1}),
        ("c@example.com", {}),
    ]
    assert job.priority == "normal"
    assert job.template_version is None


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"campaignId": "camp_abc", "tenantId": "acme", "batchId": "batch_1", "recipients": []}',
        '{"campaignId": "nope", "tenantId": "acme", "batchId": "batch_1", "recipients": ["a@example.com"]}',
        '{"campaignId": "camp_abc", "tenantId": "ac me", "batchId": "batch_1", "recipients": ["a@example.com"]}',
    ],
)
def test_malformed_jobs_are_refused(body):
    with pytest.raises(MalformedJob):
        parse_job(body)


def test_addresses_are_normalised_like_intake():
    address = check_address("Ada.Lovelace@Example.COM")
    assert address.valid
    assert address.key == "ada.lovelace@example.com"
    assert address.ascii == "Ada.Lovelace@example.com"
    assert not check_address("no-at-sign").valid
    assert check_address("user@Bücher.example") == Address(
        key="user@bücher.example", ascii="user@xn--bcher-kva.example"
    )
