"""The emulator's deliverability faults: a recipient domain answered with DeliveryDelay events or Transient bounces
(as a mailbox provider pushing back), and the account's SES enforcement status. Own emulator instance, so the
faults never leak into another test (moto's data, hence the provisioned configuration set, is shared)."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import pytest

from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator
from tests.common.emulator_helpers import drain_ses_events


@pytest.fixture(scope="module")
def own_emulator(emulator):
    instance = Emulator("127.0.0.1", 0).start()
    yield instance
    instance.stop()


@pytest.fixture
async def control(own_emulator):
    async with httpx.AsyncClient(base_url=own_emulator.url) as client:
        yield client
        await client.delete("/_emulator/faults")


@pytest.fixture
async def ses(own_emulator, herald_settings, aws_session):
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=own_emulator.url)
    async with AsyncExitStack() as stack:
        yield await open_clients(stack, settings, "sesv2", session=aws_session)


async def send(ses, herald_settings, to: str) -> str:
    response = await ses.sesv2.send_email(
        FromEmailAddress="news@example.com",
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
        ConfigurationSetName=herald_settings.resources.configuration_set,
    )
    return str(response["MessageId"])


async def test_domain_faults_answer_delays_and_transient_bounces(control, ses, herald_settings, provisioned, aws):
    faults = {"domainFaults": {"gmail.com": {"deliveryDelayRate": 1}, "yahoo.com": {"transientBounceRate": 1}}}
    assert (await control.put("/_emulator/faults", json=faults)).json() == faults
    delayed = await send(ses, herald_settings, "ada@GMAIL.com")
    bounced = await send(ses, herald_settings, "bob@yahoo.com")
    clean = await send(ses, herald_settings, "cy@example.org")
    events = await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=7)
    by_message: dict[str, list[str]] = {}
    for event in events:
        kind = event["eventType"]
        if kind == "Bounce":
            kind += ":" + event["bounce"]["bounceType"]
        by_message.setdefault(event["mail"]["messageId"], []).append(kind)
    assert sorted(by_message[delayed]) == ["Delivery", "DeliveryDelay", "Send"]
    assert sorted(by_message[bounced]) == ["Bounce:Transient", "Send"]
    assert sorted(by_message[clean]) == ["Delivery", "Send"]
    delay = next(e for e in events if e["eventType"] == "DeliveryDelay")["deliveryDelay"]
    assert delay["delayedRecipients"][0]["emailAddress"] == "ada@GMAIL.com"


async def test_domain_faults_are_validated(control):
    for bad in (
        {"domainFaults": {"gmail.com": {"deliveryDelayRate": 1.5}}},
        {"domainFaults": {"gmail.com": {"nope": 0.5}}},
        {"domainFaults": ["gmail.com"]},
        {"accountEnforcementStatus": "FINE"},
    ):
        response = await control.put("/_emulator/faults", json=bad)
        assert response.status_code == 400, bad


async def test_account_enforcement_status_is_reported_by_get_account(control, ses):
    assert (await ses.sesv2.get_account())["EnforcementStatus"] == "HEALTHY"
    await control.put("/_emulator/faults", json={"accountEnforcementStatus": "PROBATION"})
    account = await ses.sesv2.get_account()
    assert (account["EnforcementStatus"], account["SendingEnabled"]) == ("PROBATION", True)
    await control.put("/_emulator/faults", json={"accountEnforcementStatus": "SHUTDOWN"})
    account = await ses.sesv2.get_account()
    assert (account["EnforcementStatus"], account["SendingEnabled"]) == ("SHUTDOWN", False)
    await control.delete("/_emulator/faults")
    assert (await ses.sesv2.get_account())["EnforcementStatus"] == "HEALTHY"
