"""No encoded word becomes structure: a from name or a subject holding RFC 2047 encoded words (base64, Q, folded,
mixed case, in a quoted string) is written so that it decodes to the characters that were typed, through both paths
that build email — the campaign service's test send and the processor — and the raw MIME the emulator's SES accepted
has exactly the headers Herald wrote. Line boundaries other than CR/LF (U+2028, U+0085, VT, FF) and CR/LF inside a
quoted string are refused: 422 naming the field at the API, and the recipient fails (`invalid_header`) with nothing
sent when such a value reaches a builder some other way (a stored row, personalisation data)."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_campaign.app import create_app as create_campaign
from herald_processor.app import build_service
from herald_processor.schemas import parse_job
from herald_template.app import create_app as create_template
from herald_template.config import Settings as TemplateSettings
from tests.processor.test_against_emulator import (
    job_body,
    ledger_states,
    processor_settings,
    put_campaign,
    put_template,
    sent_messages,
    stand_in_template_service,
)
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign
from tests.security.mime_support import decoded, header_names, raw_message

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings
    from herald_emulator import Emulator

pytestmark = pytest.mark.timeout(90)


def _b(text: str, charset: str = "utf-8", marker: str = "b") -> str:
    return f"=?{charset}?{marker}?{base64.b64encode(text.encode()).decode()}?="


# The issue's reproduction, verbatim: decodes to `news@example.com\r\nReply-To: attacker@…\r\nX-Injected: yes\r\nX-A: `.
ISSUE_FROM_NAME = (
    "=?utf-8?b?bmV3c0BleGFtcGxlLmNvbQ0KUmVwbHktVG86IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ0KWC1JbmplY3RlZDogeWVzDQpYLUE6IA==?="
)
ENCODED_WORDS = {
    "base64": ISSUE_FROM_NAME,
    "q": "=?utf-8?q?news=0D=0AReply-To:_attacker@evil.example=0D=0AX-Injected:_q?=",
    "mixed-case": _b("x\r\nX-Injected: mixed", "UtF-8", "B") + " " + "=?uTf-8?Q?x=0d=0aX-Injected:_mixed-q?=",
    "folded": _b("x\r\n") + " " + _b("X-Injected: folded"),
    "blank-line": _b("x\r\n\r\nbody written by the caller"),
    "quoted": '"=?utf-8?q?a=0D=0AX-Injected:_quoted?="',
    "prefixed": "Acme =?utf-8?q?=0D=0AX-Injected:_prefixed?= News",
    "latin1": "=?iso-8859-1?q?x=0D=0AX-Injected:_latin?=",
}
# The issue's second reproduction: personalisation data that would become a Subject header.
ISSUE_FIRST_NAME = "=?utf-8?b?eA0KWC1JbmplY3RlZDogZnJvbS1kYXRh?="
REFUSED = {
    "line-separator": "Acme\u2028X-Injected: ls",
    "next-line": "Acme\x85X-Injected: nel",
    "vertical-tab": "Acme\x0bX-Injected: vt",
    "form-feed": "Acme\x0cX-Injected: ff",
    "crlf-in-quoted-string": '"Acme\r\nX-Injected: quoted"',
    "lf-in-quoted-string": '"Acme\nX-Injected: quoted"',
    "folded-with-crlf": _b("x") + "\r\n " + _b("X-Injected: folded"),
}

TEST_SEND_HEADERS = [
    "From", "To", "Subject", "Message-ID", "X-Herald-Test", "X-Herald-Tenant", "X-Herald-Campaign",
    "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
]  # fmt: skip
CAMPAIGN_HEADERS = [
    "From", "To", "Subject", "Message-ID", "X-Herald-Tenant", "X-Herald-Campaign", "X-Herald-Batch",
    "X-Herald-Recipient", "X-Herald-Attempt", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version",
    "Content-Type",
]  # fmt: skip


def _assert_literal(raw: bytes, expected_headers: list[str], from_name: str, subject: str) -> None:
    assert header_names(raw) == expected_headers
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"X-Injected" not in head  # not even as plain text: it was never decoded
    assert b"attacker@evil" not in head
    assert decoded(raw, "From") == f"{from_name} <news@example.com>"
    assert decoded(raw, "Subject") == subject


# --- the test-send path ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", list(ENCODED_WORDS.values()), ids=list(ENCODED_WORDS))
async def test_test_send_keeps_encoded_words_literal(
    herald_settings: HeraldSettings, emulator: Emulator, value: str
) -> None:
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        draft = await new_campaign(client, headers, fromName=value)
        assert draft["fromName"] == value  # stored as typed, neither decoded nor refused
        answer = await client.post(
            f"/campaigns/{draft['campaignId']}/test-send",
            json={"emails": ["me@example.com"], "data": {"name": value}},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        (sent,) = answer.json()["sent"]
        raw = await raw_message(emulator.url, sent["messageId"])
    _assert_literal(raw, TEST_SEND_HEADERS, value, f"[TEST] Hello {value} (v3)")


async def test_test_send_subject_from_personalisation_data_stays_literal(
    herald_settings: HeraldSettings, emulator: Emulator
) -> None:
    """The issue's second reproduction, with the real template service: subject `Hi {{ first_name }}`."""
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    template_app = create_template(
        TemplateSettings(resource_prefix=settings.resource_prefix, aws_endpoint_url=settings.aws_endpoint_url)
    )
    template = {"subject": "Hi {{ first_name }}", "html": "<p>Hello {{ first_name }}</p>"}
    async with (
        template_app.router.lifespan_context(template_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=template_app), base_url="http://template") as templates,
    ):
        assert (await templates.put("/templates/newsletter", json=template, headers=headers)).status_code == 201
        app = create_campaign(settings, template_client=templates)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://campaign") as client,
        ):
            draft = await new_campaign(client, headers, fromName="Acme")
            answer = await client.post(
                f"/campaigns/{draft['campaignId']}/test-send",
                json={"emails": ["me@example.com"], "data": {"first_name": ISSUE_FIRST_NAME}},
                headers=headers,
            )
            (sent,) = answer.json()["sent"]
    raw = await raw_message(emulator.url, sent["messageId"])
    assert header_names(raw) == TEST_SEND_HEADERS
    assert b"from-data" not in raw.split(b"\r\n\r\n", 1)[0]
    assert decoded(raw, "Subject") == f"[TEST] Hi {ISSUE_FIRST_NAME}"


@pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
async def test_line_boundaries_are_refused_at_the_api_and_again_before_a_test_send(
    herald_settings: HeraldSettings, aws: AwsClients, emulator: Emulator, value: str
) -> None:
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        for field in ("fromName", "name"):
            refused = await client.post(
                "/campaigns",
                json={"name": "S", "templateId": "newsletter", "fromAddress": "news@example.com", field: value},
                headers=headers,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["fields"] == [field]
        draft = await new_campaign(client, headers, fromName="Acme")
        cid = draft["campaignId"]
        # Personalisation data that would put the boundary into the subject: that recipient fails, nothing is sent.
        by_data = await client.post(
            f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"], "data": {"name": value}}, headers=headers
        )
        assert by_data.status_code == 202
        assert by_data.json()["sent"] == []
        assert by_data.json()["failed"][0]["error"].startswith("invalid_header: subject contains")
        # A stored row that never went through the API.
        await aws.require_dynamodb().update_item(
            TableName=settings.resources.campaigns_table,
            Key={"tenantId": {"S": "acme"}, "campaignId": {"S": cid}},
            UpdateExpression="SET fromName = :n",
            ExpressionAttributeValues={":n": {"S": value}},
        )
        by_row = await client.post(f"/campaigns/{cid}/test-send", json={"emails": ["me@example.com"]}, headers=headers)
        assert by_row.json()["sent"] == []
        assert by_row.json()["failed"][0]["error"].startswith("invalid_header: fromAddress display name contains")
    async with httpx.AsyncClient() as http:
        messages = (await http.get(f"{emulator.url}/_emulator/ses/messages")).json()["messages"]
    assert [m for m in messages if m["tags"].get("herald-campaign") == cid] == []


# --- the processor path ---------------------------------------------------------------------------------------
async def _process(
    emulator: Emulator, herald_settings: HeraldSettings, aws: AwsClients, from_name: str, first_name: str
) -> tuple[str, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=1, fromName={"S": from_name})
    await put_template(aws, settings, 2)
    job = json.loads(job_body(campaign_id, ["ada@example.com"]))
    job["recipients"][0]["data"]["first_name"] = first_name
    async with httpx.AsyncClient(
        base_url=settings.template_url, transport=stand_in_template_service(settings, [])
    ) as http:
        await build_service(settings, aws, http).process(parse_job(json.dumps(job)))
    return campaign_id, await sent_messages(emulator, campaign_id), await ledger_states(aws, settings, campaign_id)


@pytest.mark.parametrize("value", list(ENCODED_WORDS.values()), ids=list(ENCODED_WORDS))
async def test_the_processor_keeps_encoded_words_literal(
    herald_settings: HeraldSettings, aws: AwsClients, emulator: Emulator, value: str
) -> None:
    _, (message,), _ = await _process(emulator, herald_settings, aws, value, value)
    assert "X-Injected" not in message["headers"]
    raw = await raw_message(emulator.url, message["messageId"])
    _assert_literal(raw, CAMPAIGN_HEADERS, value, f"Hello {value}")


@pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
@pytest.mark.parametrize("where", ["fromName", "subject"])
async def test_the_processor_fails_the_recipient_for_a_line_boundary(
    herald_settings: HeraldSettings, aws: AwsClients, emulator: Emulator, value: str, where: str
) -> None:
    from_name, first_name = (value, "Ada") if where == "fromName" else ("Acme", value)
    _, messages, ledger = await _process(emulator, herald_settings, aws, from_name, first_name)
    assert messages == []
    assert ledger["ada@example.com"]["state"]["S"] == "failed"


ENCODED_ADDRESS = "=?utf-8?q?a=0D=0AX-Injected:_addr?=@example.com"


async def test_an_address_holding_an_encoded_word_is_refused_at_the_api_and_at_intake(
    herald_settings: HeraldSettings, emulator: Emulator
) -> None:
    """Valid atext, but the `email` parser decodes encoded words inside an address: no address may hold one."""
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        for field in ("fromAddress", "replyTo"):
            body = {"name": "S", "templateId": "newsletter", "fromAddress": "news@example.com", field: ENCODED_ADDRESS}
            refused = await client.post("/campaigns", json=body, headers=headers)
            assert refused.status_code == 422, refused.text
            assert refused.json()["fields"] == [field]
        cid = (await new_campaign(client, headers))["campaignId"]
        url = f"/campaigns/{cid}/test-send"
        test_send = await client.post(url, json={"emails": [ENCODED_ADDRESS]}, headers=headers)
        assert (test_send.status_code, test_send.json()["fields"]) == (422, ["emails"])
        upload = await client.post(
            f"/campaigns/{cid}/recipients",
            json={"recipients": [{"email": ENCODED_ADDRESS}, {"email": "ok@example.com"}]},
            headers=headers,
        )
        assert (upload.json()["accepted"], upload.json()["invalid"]) == (1, 1)
