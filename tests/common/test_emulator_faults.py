"""SES and DynamoDB fault injection answers exactly as AWS does, so botocore raises (and retries) the same ClientError
codes.

These tests run their own emulator instance (faults belong to one instance; moto's data is shared), so a fault
never leaks into another test.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from datetime import datetime

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator
from tests.common.emulator_helpers import drain_ses_envelopes, drain_ses_events, emulator_messages


@pytest.fixture(scope="module")
def faulty_emulator(emulator):
    instance = Emulator("127.0.0.1", 0).start()
    yield instance
    instance.stop()


@pytest.fixture
async def control(faulty_emulator):
    async with httpx.AsyncClient(base_url=faulty_emulator.url) as client:
        yield client
        await client.delete("/_emulator/faults")


@pytest.fixture
async def ses(faulty_emulator, herald_settings, aws_session):
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=faulty_emulator.url)
    async with AsyncExitStack() as stack:
        yield await open_clients(stack, settings, "ses", "sesv2", session=aws_session)


async def send_v2(clients, to="ada@example.org"):
    return await clients.sesv2.send_email(
        FromEmailAddress="news@example.com",
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
    )


async def send_v1(clients):
    return await clients.ses.send_email(
        Source="news@example.com",
        Destination={"ToAddresses": ["ada@example.org"]},
        Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}},
    )


async def test_faults_are_shown_replaced_validated_and_cleared(control):
    assert (await control.get("/_emulator/faults")).json() == {}
    put = await control.put("/_emulator/faults", json={"sesThrottleRate": 0.3, "sesLatencyMs": 50})
    assert put.status_code == 200
    assert (await control.get("/_emulator/faults")).json() == {"sesThrottleRate": 0.3, "sesLatencyMs": 50}
    await control.put("/_emulator/faults", json={"sesMaxSendRate": 20})
    assert (await control.get("/_emulator/faults")).json() == {"sesMaxSendRate": 20}
    bad = await control.put("/_emulator/faults", json={"sesThrottleRate": 2})
    assert bad.status_code == 400
    assert bad.json()["error"] == "BadRequest"
    assert (await control.put("/_emulator/faults", json={"nope": 1})).status_code == 400
    both = {"dynamodbErrorRate": 0.25, "sesLostAnswerRate": 0.5}
    assert (await control.put("/_emulator/faults", json=both)).json() == both
    assert (await control.get("/_emulator/faults")).json() == both
    for name in both:
        for value in (1.5, -0.1, "half", True):
            bad = await control.put("/_emulator/faults", json={name: value})
            assert bad.status_code == 400, (name, value)
            assert name in bad.json()["detail"]
    assert (await control.get("/_emulator/faults")).json() == both  # a refused PUT changes nothing
    assert (await control.delete("/_emulator/faults")).status_code == 200
    assert (await control.get("/_emulator/faults")).json() == {}


async def test_throttle_answers_like_aws_on_both_apis(control, ses, faulty_emulator):
    await control.put("/_emulator/faults", json={"sesThrottleRate": 1.0})
    before = len(await emulator_messages(faulty_emulator.url))
    with pytest.raises(ClientError) as v2:
        await send_v2(ses)
    assert v2.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert v2.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert v2.value.response["ResponseMetadata"]["RetryAttempts"] == 0  # the kit's SES client never retries
    with pytest.raises(ClientError) as v1:
        await send_v1(ses)
    assert v1.value.response["Error"]["Code"] == "Throttling"
    assert v1.value.response["Error"]["Message"] == "Maximum sending rate exceeded."
    assert v1.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(await emulator_messages(faulty_emulator.url)) == before  # nothing was sent

    await control.delete("/_emulator/faults")
    assert (await send_v2(ses))["MessageId"]


async def test_error_rate_fails_without_sending(control, ses, faulty_emulator):
    await control.put("/_emulator/faults", json={"sesErrorRate": 1.0})
    before = len(await emulator_messages(faulty_emulator.url))
    for send in (send_v2, send_v1):
        with pytest.raises(ClientError) as failed:
            await send(ses)
        assert failed.value.response["Error"]["Code"] == "InternalFailure"
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(await emulator_messages(faulty_emulator.url)) == before


@pytest.mark.timing
async def test_max_send_rate_throttles_the_excess(control, ses):
    await control.put("/_emulator/faults", json={"sesMaxSendRate": 2})
    started = time.monotonic()
    results = await asyncio.gather(*(send_v2(ses) for _ in range(10)), return_exceptions=True)
    took = time.monotonic() - started
    throttled = [r for r in results if isinstance(r, ClientError)]
    assert all(r.response["Error"]["Code"] == "TooManyRequestsException" for r in throttled)
    accepted = len(results) - len(throttled)
    # A burst of one second's worth (2), plus what refills while the 10 concurrent calls are answered: however long
    # a busy machine makes that, the bucket's arithmetic over the time it took.
    assert 2 <= accepted <= 2 + 2 * took


async def test_the_reported_max_send_rate_is_the_one_enforced(control, ses):
    # No rate fault: no rate enforced, reported as SES reports an unlimited quota.
    v2, v1 = (await ses.sesv2.get_account())["SendQuota"], await ses.ses.get_send_quota()
    assert v2["MaxSendRate"] == v1["MaxSendRate"] == -1.0
    await control.put("/_emulator/faults", json={"sesMaxSendRate": 7.5})
    v2, v1 = (await ses.sesv2.get_account())["SendQuota"], await ses.ses.get_send_quota()
    assert v2["MaxSendRate"] == v1["MaxSendRate"] == 7.5
    # No daily-quota fault: no daily quota, reported as unlimited; the count sent is the same through both APIs.
    assert v2["Max24HourSend"] == v1["Max24HourSend"] == -1.0
    assert v2["SentLast24Hours"] == v1["SentLast24Hours"]
    await control.delete("/_emulator/faults")
    await send_v2(ses)
    after = await ses.ses.get_send_quota()
    assert after["SentLast24Hours"] == v1["SentLast24Hours"] + 1
    assert (await ses.sesv2.get_account())["SendQuota"]["SentLast24Hours"] == after["SentLast24Hours"]


async def test_the_daily_quota_is_reported_and_enforced(control, ses):
    sent = (await ses.sesv2.get_account())["SendQuota"]["SentLast24Hours"]
    await control.put("/_emulator/faults", json={"sesMax24HourSend": sent + 1})
    v2, v1 = (await ses.sesv2.get_account())["SendQuota"], await ses.ses.get_send_quota()
    assert v2["Max24HourSend"] == v1["Max24HourSend"] == sent + 1
    await send_v2(ses)  # the last one of the day
    with pytest.raises(ClientError) as refused:
        await send_v2(ses)
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert "daily message quota exceeded" in refused.value.response["Error"]["Message"].lower()
    assert (await ses.sesv2.get_account())["SendQuota"]["SentLast24Hours"] == sent + 1


@pytest.mark.timing
async def test_latency_delays_the_answer(control, ses):
    await control.put("/_emulator/faults", json={"sesLatencyMs": 300})
    started = time.monotonic()
    await send_v2(ses)
    assert time.monotonic() - started >= 0.3


async def test_lost_answer_sends_records_and_publishes_then_answers_500(
    control, ses, faulty_emulator, herald_settings, provisioned, aws
):
    await control.put("/_emulator/faults", json={"sesLostAnswerRate": 1.0})
    to = f"lost.{time.monotonic_ns()}@example.org"
    with pytest.raises(ClientError) as v2:
        await ses.sesv2.send_email(
            FromEmailAddress="news@example.com",
            Destination={"ToAddresses": [to]},
            Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
            ConfigurationSetName=herald_settings.resources.configuration_set,
            EmailTags=[{"Name": "herald-campaign", "Value": "camp_lost"}],
        )
    assert v2.value.response["Error"]["Code"] == "InternalFailure"
    assert v2.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert v2.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    with pytest.raises(ClientError) as v1:
        await ses.ses.send_email(
            Source="news@example.com",
            Destination={"ToAddresses": [to]},
            Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}},
        )
    assert v1.value.response["Error"]["Code"] == "InternalFailure"
    assert v1.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # Both were sent all the same: in the message log, and the configuration set's events went out.
    logged = [m for m in await emulator_messages(faulty_emulator.url) if m["destinations"] == [to]]
    assert len(logged) == 2
    v2_message = next(m for m in logged if m["tags"].get("herald-campaign") == "camp_lost")
    events = await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=2)
    assert [(e["eventType"], e["mail"]["messageId"]) for e in events] == [
        ("Send", v2_message["messageId"]),
        ("Delivery", v2_message["messageId"]),
    ]
    assert events[0]["mail"]["tags"]["herald-campaign"] == ["camp_lost"]

    await control.delete("/_emulator/faults")
    assert (await send_v2(ses))["MessageId"]


@pytest.mark.timing
async def test_event_delay_publishes_every_event_of_the_send_that_late(control, ses, herald_settings, provisioned, aws):
    await control.put("/_emulator/faults", json={"sesEventDelayMs": 1500})
    await ses.sesv2.send_email(
        FromEmailAddress="news@example.com",
        Destination={"ToAddresses": [f"late.{time.monotonic_ns()}@example.org"]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
        ConfigurationSetName=herald_settings.resources.configuration_set,
    )
    await control.delete("/_emulator/faults")  # only what was accepted while it was set is late
    received = await drain_ses_envelopes(aws.sqs, provisioned.ses_events_queue_url, expected=2, timeout=30.0)
    assert [event["eventType"] for _, event in received] == ["Send", "Delivery"]
    # Published (the envelope's time) at least 1.5 s after SES accepted the message (the event's own time): both
    # are the emulator's clock, so a slow machine cannot make this pass or fail.
    for envelope, event in received:
        accepted = datetime.fromisoformat(event["mail"]["timestamp"].replace("Z", "+00:00"))
        published = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00"))
        assert (published - accepted).total_seconds() >= 1.5, (event["eventType"], accepted, published)


@pytest.fixture
async def dynamodb(faulty_emulator, herald_settings, aws_session):
    """DynamoDB clients on the faulty emulator: one that never retries, one that retries once (botocore standard)."""
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=faulty_emulator.url)
    async with AsyncExitStack() as stack:
        once = await open_clients(
            stack, settings, "dynamodb", "sqs", session=aws_session, config=Config(retries={"total_max_attempts": 1})
        )
        twice = await open_clients(
            stack, settings, "dynamodb", session=aws_session, config=Config(retries={"total_max_attempts": 2})
        )
        yield once, twice.require_dynamodb()


async def test_dynamodb_errors_answer_500_or_503_and_run_nothing(control, dynamodb, herald_settings, provisioned):
    clients, retrying = dynamodb
    table = herald_settings.resources.campaigns_table
    key = {"tenantId": {"S": "faults"}, "campaignId": {"S": f"camp_{time.monotonic_ns()}"}}
    await control.put("/_emulator/faults", json={"dynamodbErrorRate": 1.0})
    answers = set()
    for _ in range(30):
        with pytest.raises(ClientError) as failed:
            await clients.require_dynamodb().put_item(TableName=table, Item=key | {"name": {"S": "x"}})
        error, meta = failed.value.response["Error"], failed.value.response["ResponseMetadata"]
        answers.add((error["Code"], meta["HTTPStatusCode"]))
    # Each at random, in DynamoDB's JSON error shape (botocore read the code from `__type`).
    assert answers == {("InternalServerError", 500), ("ServiceUnavailable", 503)}
    # botocore's standard retry mode treats both as retryable: the retrying client tries again, and fails again.
    with pytest.raises(ClientError) as retried:
        await retrying.get_item(TableName=table, Key=key)
    assert retried.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    # Other services are not touched.
    assert (await clients.require_sqs().get_queue_url(QueueName=herald_settings.resources.email_jobs_queue))["QueueUrl"]

    await control.delete("/_emulator/faults")
    # None of the failed writes ran.
    assert "Item" not in await clients.require_dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True)
    await clients.require_dynamodb().put_item(TableName=table, Item=key | {"name": {"S": "x"}})
    assert (await retrying.get_item(TableName=table, Key=key, ConsistentRead=True))["Item"]["name"] == {"S": "x"}


async def test_dynamodb_error_rate_fails_about_that_share(control, dynamodb, herald_settings, provisioned, rng):
    clients, _ = dynamodb
    table = herald_settings.resources.campaigns_table
    key = {"tenantId": {"S": "faults"}, "campaignId": {"S": "camp_none"}}
    await control.put("/_emulator/faults", json={"dynamodbErrorRate": 0.3, "seed": rng.randrange(2**32)})
    failures = 0
    for _ in range(200):
        try:
            await clients.require_dynamodb().get_item(TableName=table, Key=key)
        except ClientError:
            failures += 1
    assert 30 <= failures <= 90  # 200 calls at 30 %: mean 60, sd 6.5; these bounds are beyond 4.5 sd


async def test_a_seed_replays_which_calls_fail(control, dynamodb, herald_settings, provisioned, rng):
    clients, _ = dynamodb
    table = herald_settings.resources.campaigns_table
    key = {"tenantId": {"S": "faults"}, "campaignId": {"S": "camp_none"}}

    async def pattern(seed: int) -> list[bool]:
        assert (
            await control.put("/_emulator/faults", json={"dynamodbErrorRate": 0.5, "seed": seed})
        ).status_code == 200
        failed = []
        for _ in range(40):
            try:
                await clients.require_dynamodb().get_item(TableName=table, Key=key)
                failed.append(False)
            except ClientError:
                failed.append(True)
        return failed

    seed = rng.randrange(2**32)
    first = await pattern(seed)
    assert await pattern(seed) == first
    assert await pattern(seed + 1) != first  # two seeds agree on all 40 calls with odds of 2^-40
    for bad in (-1, 1.5, True, "7"):
        refused = await control.put("/_emulator/faults", json={"seed": bad})
        assert refused.status_code == 400, bad
        assert "seed" in refused.json()["detail"]
