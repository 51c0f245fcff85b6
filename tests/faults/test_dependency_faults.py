"""Exactly once when the dependencies fail: DynamoDB failing a share of calls (and down for a few seconds mid-send),
and SES sending a message but losing its answer.

Like the other fault tests, each sends its own campaign through the whole stack (analytics included: it consumes the
SES events) and reads what SES accepted (`/_emulator/ses/messages`) and what the ledger says.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from herald_cli.client import HeraldApiError
from herald_common.settings import HeraldSettings
from tests.faults.conftest import audit, aws_client, dead_letters, recipients, ses_messages, set_faults, start_campaign
from tests.faults.test_processor_faults import assert_exactly_once

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_cli.client import HeraldClient
    from herald_cli.stack import DevStack

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

RECONCILED_REASON = "reconciled_send_event"  # analytics' reason on a row it settled from the SES Send event


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float) -> Any:
    """Read until `done` holds or `timeout` passed; an API answering 5xx meanwhile (its DynamoDB failing too) is read
    again. The last value read."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while True:
        try:
            value = read()
            if done(value):
                return value
        except HeraldApiError as exc:
            if exc.status_code < 500:
                raise
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def fanout_done(stack: DevStack, campaign_id: str, timeout: float = 30.0) -> bool:
    """Whether the campaign service logged its fan-out finished (every batch queued) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in stack.log_path("campaign").read_text(errors="replace").splitlines():
            if "campaign.fanout_done" in line and campaign_id in line:
                return True
        time.sleep(0.2)
    return False


def ledger_reasons(stack: DevStack, campaign_id: str) -> dict[str, str]:
    """The ledger's `reason` by recipient (rows without one left out)."""
    dynamodb = aws_client(stack, "dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": HeraldSettings(resource_prefix=stack.prefix).resources.ledger_table,
        "KeyConditionExpression": "campaignKey = :k",
        "ExpressionAttributeValues": {":k": {"S": f"acme#{campaign_id}"}},
        "ConsistentRead": True,
    }
    reasons: dict[str, str] = {}
    while True:
        page = dynamodb.query(**kwargs)
        reasons |= {i["email"]["S"]: i["reason"]["S"] for i in page["Items"] if "reason" in i}
        if "LastEvaluatedKey" not in page:
            return reasons
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dynamodb_is_failing(stack: DevStack) -> bool:
    """One DynamoDB call without retries, as a probe: whether it was refused with a 5xx."""
    probe = boto3.client(
        "dynamodb",
        endpoint_url=stack.emulator_url,
        region_name=stack.settings.aws_region,
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        probe.describe_limits()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"]) >= 500
    return False


def messages_sent(stack: DevStack, campaign_id: str) -> int:
    """How many messages of the campaign SES accepted so far (the emulator's log: no DynamoDB involved)."""
    return len(ses_messages(stack, campaign_id))


def counts_agree(stack: DevStack, client: HeraldClient, campaign_id: str, recipients: int) -> bool:
    """Whether the ledger's finals, the campaign's counters and the statistics say the same."""
    states = audit(stack, campaign_id).states()
    counts = client.get_campaign(campaign_id)["counts"]
    stats = client.campaign_stats(campaign_id)
    expected = (recipients, states["sent"], states["unknown"])
    return (counts["final"], counts["sent"], counts["unknown"]) == expected and (
        stats["recipients"],
        stats["sent"],
        stats["unknown"],
    ) == expected


@pytest.mark.timeout(300)
def test_dynamodb_failures_and_an_outage_mid_send_are_ridden_out(stack: DevStack, client: HeraldClient) -> None:
    rows = recipients(100)
    emails = [r["email"] for r in rows]
    # At most 10 emails/s, so ledger, throttle-bucket and campaign calls go on all through the campaign.
    campaign_id = start_campaign(client, rows, throttle={"emailsPerMinute": 600})
    # The campaign service's fan-out is not what this test is about: the faults start once every batch is queued.
    assert fanout_done(stack, campaign_id), "the fan-out must finish"
    # A fifth of DynamoDB calls fail (botocore retries them with jittered exponential backoff; a call that fails on
    # every attempt fails its batch, which SQS brings back after the processor's own backoff).
    set_faults(stack, dynamodbErrorRate=0.2)
    sent_before_outage = eventually(lambda: messages_sent(stack, campaign_id), lambda n: n >= 15, 90)
    # Then DynamoDB is down for 5 s: longer than many calls' retries (jittered pauses of up to 1, 2, 4, 8 s).
    set_faults(stack, dynamodbErrorRate=1.0)
    outage_started = time.monotonic()
    assert dynamodb_is_failing(stack)
    assert 15 <= sent_before_outage < len(emails), "the outage must land mid-send"
    time.sleep(max(0.0, 5 - (time.monotonic() - outage_started)))
    set_faults(stack, dynamodbErrorRate=0.2)

    campaign = eventually(lambda: client.get_campaign(campaign_id), lambda c: c["status"] != "sending", 180)
    assert campaign["status"] == "sent"
    httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()

    assert_exactly_once(stack, campaign_id, emails)
    assert dead_letters(stack) == 0
    # The counts agree: analytics may still move an `unknown` whose Send event it had not yet counted to `sent`, so
    # read until the three agree (bounded).
    agreed = eventually(lambda: counts_agree(stack, client, campaign_id, len(emails)), bool, 30)
    assert agreed, "the ledger, the campaign's counters and the statistics disagree"


@pytest.mark.timeout(240)
def test_lost_ses_answers_are_reconciled_sent_never_resent(stack: DevStack, client: HeraldClient) -> None:
    # SES sends the message (its Send event goes out) and then answers 500 to 20 % of the sends: the processor cannot
    # know it went out, so it never sends it again; the Send event tells analytics it did.
    set_faults(stack, sesLostAnswerRate=0.2)
    rows = recipients(100)
    emails = [r["email"] for r in rows]
    campaign_id = start_campaign(client, rows)
    all_sent = eventually(
        lambda: audit(stack, campaign_id).states(), lambda states: states == {"sent": len(emails)}, 150
    )
    assert all_sent == {"sent": len(emails)}, all_sent

    result = audit(stack, campaign_id)
    assert result.duplicates == {}, "a recipient was sent twice"
    assert all(result.per_recipient[e] == 1 for e in emails), "every recipient has exactly one message"
    # The recipients whose answer was lost: the processor logged them in doubt after a 500 (and sent none again).
    processor_log = stack.log_path("processor").read_text(errors="replace").splitlines()
    answers_lost = {
        line.split("recipient=")[1].split()[0]
        for line in processor_log
        if "processor.send_in_doubt" in line and campaign_id in line and "InternalFailure" in line
    }
    # 100 sends at 20 %: none losing its answer has a chance of 0.8**100, about 2e-10.
    assert answers_lost, "some answers must have been lost"
    reasons = ledger_reasons(stack, campaign_id)
    assert {e: reasons.get(e) for e in answers_lost} == dict.fromkeys(answers_lost, RECONCILED_REASON), (
        "each was reconciled `sent` from its Send event"
    )
    assert dead_letters(stack) == 0

    campaign = eventually(lambda: client.get_campaign(campaign_id), lambda c: c["status"] != "sending", 60)
    assert campaign["status"] == "sent"
    stats = eventually(
        lambda: client.campaign_stats(campaign_id), lambda s: (s["sent"], s["unknown"]) == (len(emails), 0), 30
    )
    assert (stats["recipients"], stats["sent"], stats["unknown"]) == (len(emails), len(emails), 0)
    counts = client.get_campaign(campaign_id)["counts"]
    assert (counts["final"], counts["sent"], counts["unknown"]) == (len(emails), len(emails), 0)
