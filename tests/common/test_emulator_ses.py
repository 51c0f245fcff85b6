"""The emulator's SES: accepted sends are logged with headers and tags, and publish SES's own event JSON through
the configuration set's SNS topic to the SES events queue, following the mailbox simulator."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.common.emulator_helpers import drain_ses_events, emulator_messages

SENDER = "news@example.com"
RAW = (
    "From: Herald News <news@example.com>\r\n"
    "To: {to}\r\n"
    "Subject: Spring sale\r\n"
    "X-Herald-Tenant: acme\r\n"
    "X-Herald-Campaign: camp_0123456789abcdef0123\r\n"
    "List-Unsubscribe: <http://127.0.0.1:8001/u/tok>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hello\r\n"
)
TAGS = [{"Name": "herald-tenant", "Value": "acme"}, {"Name": "herald-campaign", "Value": "camp_0123456789abcdef0123"}]


async def send_raw_v2(aws, herald_settings, to: str) -> str:
    response = await aws.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [to]},
        Content={"Raw": {"Data": RAW.format(to=to).encode()}},
        ConfigurationSetName=herald_settings.resources.configuration_set,
        EmailTags=TAGS,
    )
    return str(response["MessageId"])


async def test_raw_v2_send_is_logged_and_publishes_send_then_delivery(emulator, herald_settings, provisioned, aws):
    message_id = await send_raw_v2(aws, herald_settings, "ada@example.org")

    logged = [m for m in await emulator_messages(emulator.url) if m["messageId"] == message_id]
    assert len(logged) == 1
    entry = logged[0]
    assert entry["source"] == SENDER
    assert entry["destinations"] == ["ada@example.org"]
    assert entry["subject"] == "Spring sale"
    assert entry["tags"] == {"herald-tenant": "acme", "herald-campaign": "camp_0123456789abcdef0123"}
    assert entry["headers"]["X-Herald-Tenant"] == "acme"
    assert entry["headers"]["List-Unsubscribe"] == "<http://127.0.0.1:8001/u/tok>"
    assert entry["sentAt"].endswith("Z")

    events = await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=2)
    assert [e["eventType"] for e in events] == ["Send", "Delivery"]
    for event in events:
        mail = event["mail"]
        assert mail["messageId"] == message_id
        assert mail["destination"] == ["ada@example.org"]
        assert mail["tags"]["herald-tenant"] == ["acme"]
        assert mail["tags"]["herald-campaign"] == ["camp_0123456789abcdef0123"]
        assert mail["tags"]["ses:configuration-set"] == [herald_settings.resources.configuration_set]
        assert mail["tags"]["ses:from-domain"] == ["example.com"]
        assert {"name": "X-Herald-Campaign", "value": "camp_0123456789abcdef0123"} in mail["headers"]
        assert mail["commonHeaders"]["subject"] == "Spring sale"
    delivery = events[1]["delivery"]
    assert delivery["recipients"] == ["ada@example.org"]
    assert delivery["smtpResponse"].startswith("250")


SIMULATOR_OUTCOMES = {
    "bounce@simulator.amazonses.com": [("Bounce", "Permanent", "General")],
    "bounce+camp42@simulator.amazonses.com": [("Bounce", "Permanent", "General")],
    "ooto@simulator.amazonses.com": [("Bounce", "Transient", "General")],
    "suppressionlist@simulator.amazonses.com": [("Bounce", "Permanent", "Suppressed")],
    "complaint@simulator.amazonses.com": [("Delivery", None, None), ("Complaint", None, None)],
    "success@simulator.amazonses.com": [("Delivery", None, None)],
}


async def test_mailbox_simulator_outcomes(herald_settings, provisioned, aws):
    ids = {await send_raw_v2(aws, herald_settings, address): address for address in SIMULATOR_OUTCOMES}
    expected_count = sum(1 + len(outcome) for outcome in SIMULATOR_OUTCOMES.values())
    events = await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=expected_count)
    assert len(events) == expected_count
    by_message: dict[str, list[dict]] = {}
    for event in events:
        by_message.setdefault(event["mail"]["messageId"], []).append(event)
    assert set(by_message) == set(ids)
    for message_id, address in ids.items():
        first, *rest = sorted(
            by_message[message_id],
            key=lambda e: (
                e["mail"]["timestamp"] if e["eventType"] == "Send" else e[e["eventType"].lower()]["timestamp"]
            ),
        )
        assert first["eventType"] == "Send", address
        seen = []
        for event in rest:
            bounce = event.get("bounce", {})
            seen.append((event["eventType"], bounce.get("bounceType"), bounce.get("bounceSubType")))
            if bounce:
                assert bounce["bouncedRecipients"][0]["emailAddress"] == address
                assert bounce["feedbackId"]
            if event["eventType"] == "Complaint":
                assert event["complaint"]["complainedRecipients"] == [{"emailAddress": address}]
        assert seen == SIMULATOR_OUTCOMES[address], address
    assert await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=1, timeout=0.2) == []


async def test_v1_send_email_with_tags_is_logged_and_publishes_events(emulator, herald_settings, provisioned, aws):
    response = await aws.ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": ["grace@example.org"]},
        Message={"Subject": {"Data": "v1 hello"}, "Body": {"Text": {"Data": "hi"}}},
        ConfigurationSetName=herald_settings.resources.configuration_set,
        Tags=[{"Name": "herald-tenant", "Value": "globex"}],
    )
    message_id = response["MessageId"]
    entry = next(m for m in await emulator_messages(emulator.url) if m["messageId"] == message_id)
    assert entry["subject"] == "v1 hello"
    assert entry["tags"] == {"herald-tenant": "globex"}

    events = await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=2)
    assert [(e["eventType"], e["mail"]["messageId"]) for e in events] == [
        ("Send", message_id),
        ("Delivery", message_id),
    ]
    assert events[0]["mail"]["tags"]["ses:operation"] == ["SendEmail"]


async def test_the_message_log_keeps_only_one_tags_messages_when_asked(emulator, herald_settings, aws):
    mine, other = "c" + herald_settings.resource_prefix, "d" + herald_settings.resource_prefix
    sent = {}
    for campaign in (mine, other, mine):
        response = await aws.ses.send_email(
            Source=SENDER,
            Destination={"ToAddresses": [f"{campaign}@example.org"]},
            Message={"Subject": {"Data": campaign}, "Body": {"Text": {"Data": "hi"}}},
            Tags=[{"Name": "herald-campaign", "Value": campaign}],
        )
        sent.setdefault(campaign, []).append(response["MessageId"])
    async with httpx.AsyncClient(base_url=emulator.url) as client:
        tagged = (await client.get("/_emulator/ses/messages", params={"tag": f"herald-campaign:{mine}"})).json()
        unnamed = await client.get("/_emulator/ses/messages", params={"tag": "herald-campaign"})
    assert [m["messageId"] for m in tagged["messages"]] == sent[mine]  # in the order accepted
    assert unnamed.status_code == 400
    assert unnamed.json()["error"] == "BadRequest"
    every = [m["messageId"] for m in await emulator_messages(emulator.url)]
    assert set(sent[mine] + sent[other]) <= set(every)


async def test_v1_send_raw_email_reads_headers(emulator, herald_settings, provisioned, aws):
    raw = RAW.format(to="bounce@simulator.amazonses.com").encode()
    response = await aws.ses.send_raw_email(
        RawMessage={"Data": raw}, ConfigurationSetName=herald_settings.resources.configuration_set
    )
    entry = next(m for m in await emulator_messages(emulator.url) if m["messageId"] == response["MessageId"])
    assert entry["destinations"] == ["bounce@simulator.amazonses.com"]
    assert entry["headers"]["X-Herald-Campaign"] == "camp_0123456789abcdef0123"
    events = await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=2)
    assert [e["eventType"] for e in events] == ["Send", "Bounce"]


async def test_send_without_configuration_set_publishes_nothing(emulator, herald_settings, provisioned, aws):
    response = await aws.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["ada@example.org"]},
        Content={"Simple": {"Subject": {"Data": "plain"}, "Body": {"Text": {"Data": "x"}}}},
    )
    assert any(m["messageId"] == response["MessageId"] for m in await emulator_messages(emulator.url))
    assert await drain_ses_events(aws.sqs, provisioned.ses_events_queue_url, expected=1, timeout=0.3) == []


async def test_unknown_configuration_set_and_unverified_sender_are_refused(emulator, herald_settings, aws):
    with pytest.raises(ClientError) as missing:
        await aws.sesv2.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": ["ada@example.org"]},
            Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
            ConfigurationSetName="no-such-set",
        )
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as unverified:
        await aws.sesv2.send_email(
            FromEmailAddress="someone@unverified.test",
            Destination={"ToAddresses": ["ada@example.org"]},
            Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
        )
    assert unverified.value.response["Error"]["Code"] == "MessageRejected"
    sources = {m["source"] for m in await emulator_messages(emulator.url)}
    assert "someone@unverified.test" not in sources
