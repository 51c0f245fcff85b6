"""SES fault injection answers exactly as AWS does, so botocore raises the same ClientError codes.

These tests run their own emulator instance (faults belong to one instance; moto's data is shared), so a fault
never leaks into another test.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import httpx
import pytest
from botocore.exceptions import ClientError

from herald_common.aws import open_clients
from herald_common.emulator import Emulator
from herald_common.settings import HeraldSettings
from tests.common.emulator_helpers import emulator_messages


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


async def test_max_send_rate_throttles_the_excess(control, ses):
    await control.put("/_emulator/faults", json={"sesMaxSendRate": 2})
    results = await asyncio.gather(*(send_v2(ses) for _ in range(10)), return_exceptions=True)
    throttled = [r for r in results if isinstance(r, ClientError)]
    assert all(r.response["Error"]["Code"] == "TooManyRequestsException" for r in throttled)
    accepted = len(results) - len(throttled)
    # A burst of one second's worth (2), plus what refills while the 10 concurrent calls are answered.
    assert 2 <= accepted <= 5


async def test_latency_delays_the_answer(control, ses):
    await control.put("/_emulator/faults", json={"sesLatencyMs": 300})
    started = time.monotonic()
    await send_v2(ses)
    assert time.monotonic() - started >= 0.3
