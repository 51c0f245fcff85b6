"""Header injection, as an attacker would try it: CR, LF or NUL in the subject, the from name, the reply-to or any
other header value is refused at the API (422 naming the field) and again just before a message is built (the
processor's builder and the campaign service's test send), whatever reached storage."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from typing import TYPE_CHECKING, Any

import pytest

from herald_campaign.campaigns.models import Campaign
from herald_campaign.campaigns.testsend import build_test_message
from herald_common.headers import (
    SIMPLE_ADDR_SPEC,
    HeaderInjection,
    _one_address,
    check_header_value,
    check_message_headers,
    parse_address,
)
from herald_processor.envelope import Envelope
from herald_processor.mime import build_message
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(60)

ATTACKS = ["Acme\r\nBcc: victim@example.com", "Acme\nBcc: victim@example.com", "Acme\rX: y", "Acme\x00hidden"]


@pytest.mark.parametrize("value", ATTACKS)
def test_the_kit_refuses_cr_lf_and_nul_naming_the_field(value: str) -> None:
    with pytest.raises(HeaderInjection) as caught:
        check_header_value("fromName", value)
    assert caught.value.field == "fromName"
    check_header_value("fromName", 'Acme, "the" News — ünïcode')  # anything else is a fine header value


@pytest.mark.parametrize("addr", ["a@example.com, b@example.com", "a@example.com\r\nBcc: b@example.com", "nobody", ""])
def test_an_address_field_is_exactly_one_parsed_address(addr: str) -> None:
    with pytest.raises(HeaderInjection):
        parse_address("replyTo", addr)
    assert parse_address("replyTo", "help@example.com", 'Help, "Desk"').addr_spec == "help@example.com"


@pytest.mark.parametrize(
    "addr",
    [
        "user@example.com",
        "first.last+tag@mail.example.co.uk",
        "o'brien@example.com",
        "x!#$%&*/=?^_`{|}~-@a-b.example",
        "UPPER@Example.COM",
        "a@b",
    ],
)
def test_the_plain_address_shortcut_agrees_with_the_header_parser(addr: str) -> None:
    # A plain dot-atom address skips the `email` parser; what comes back must be what the parser makes of it.
    assert SIMPLE_ADDR_SPEC.fullmatch(addr)
    parsed = _one_address(addr, "")
    assert parsed is not None
    fast = parse_address("to", addr)
    assert (fast.username, fast.domain, fast.addr_spec, str(fast)) == (
        parsed.username,
        parsed.domain,
        parsed.addr_spec,
        str(parsed),
    )


@pytest.mark.parametrize(
    "addr",
    [
        "a..b@example.com",
        ".a@example.com",
        "a@.example.com",
        "a@example..com",
        "a@ex_ample.com",
        '"a b"@example.com',
        "ü@example.com",
    ],
)
def test_anything_else_goes_through_the_header_parser(addr: str) -> None:
    assert not SIMPLE_ADDR_SPEC.fullmatch(addr)


# --- at the API -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["name", "fromName", "replyTo", "fromAddress"])
@pytest.mark.parametrize("value", ATTACKS)
async def test_campaign_create_and_update_refuse_header_breaking_values(
    herald_settings: HeraldSettings, field: str, value: str
) -> None:
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        bad = value if field in ("name", "fromName") else value.replace("Acme", "help@example.com")
        created = await client.post(
            "/campaigns",
            json={"name": "S", "templateId": "newsletter", "fromAddress": "news@example.com", field: bad},
            headers=headers,
        )
        assert created.status_code == 422, created.text
        assert created.json()["error"] == "ValidationError"
        assert created.json()["fields"] == [field]
        assert field in created.json()["detail"]

        draft = await new_campaign(client, headers)
        patched = await client.patch(f"/campaigns/{draft['campaignId']}", json={field: bad}, headers=headers)
        assert patched.status_code == 422, patched.text
        assert patched.json()["fields"] == [field]
        listed = (await client.get("/campaigns", headers=headers)).json()["campaigns"]
        assert [c["campaignId"] for c in listed] == [draft["campaignId"]]  # nothing else was stored
        assert listed[0][field if field != "fromAddress" else "fromAddress"] != bad


async def test_test_send_addresses_refuse_line_breaks(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        draft = await new_campaign(client, headers)
        answer = await client.post(
            f"/campaigns/{draft['campaignId']}/test-send",
            json={"emails": ["me@example.com\r\nBcc: victim@example.com"]},
            headers=headers,
        )
        assert answer.status_code == 422
        assert answer.json()["fields"] == ["emails"]


# --- again before the message is built ------------------------------------------------------------------------
def _envelope(**overrides: Any) -> Envelope:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "campaign_id": "camp_0123",
        "batch_id": "batch_000001",
        "recipient": "ada@example.com",
        "destination": "ada@example.com",
        "attempt": 1,
        "from_address": "news@example.com",
        "from_name": "Acme",
        "reply_to": "help@example.com",
    }
    return Envelope(**(values | overrides))


@pytest.mark.parametrize(
    ("overrides", "subject", "url", "field"),
    [
        ({}, "Hi Ada\r\nBcc: victim@example.com", "https://h/u/t", "subject"),
        ({}, "Hi\x00", "https://h/u/t", "subject"),
        ({"from_name": "Acme\nBcc: victim@example.com"}, "S", "https://h/u/t", "fromAddress display name"),
        ({"from_name": "Acme\x00"}, "S", "https://h/u/t", "fromAddress display name"),
        ({"reply_to": "help@example.com\r\nBcc: victim@example.com"}, "S", "https://h/u/t", "replyTo"),
        ({"reply_to": "a@example.com, b@example.com"}, "S", "https://h/u/t", "replyTo"),
        ({"recipient": "ada@example.com\r\nBcc: v@example.com"}, "S", "https://h/u/t", "X-Herald-Recipient"),
        ({}, "S", "https://h/u/t\r\nBcc: victim@example.com", "List-Unsubscribe"),
    ],
)
def test_the_processors_builder_refuses_its_input_before_building(
    overrides: dict[str, Any], subject: str, url: str, field: str
) -> None:
    with pytest.raises(HeaderInjection) as caught:
        build_message(_envelope(**overrides), subject, "<p>x</p>", None, url)
    assert caught.value.field == field


def test_a_clean_input_still_builds_one_message_with_the_parsed_addresses() -> None:
    raw = build_message(_envelope(from_name='Acme, "the" News'), "Hello", "<p>x</p>", "x", "https://h/u/t")
    message = message_from_bytes(raw, policy=default)
    assert message["From"].addresses[0].display_name == 'Acme, "the" News'
    assert message["Bcc"] is None
    assert str(message["Subject"]) == "Hello"


def _campaign(**overrides: Any) -> Campaign:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "campaign_id": "camp_00000000000000000001",
        "name": "S",
        "template_id": "newsletter",
        "from_address": "news@example.com",
        "from_name": "Acme",
        "reply_to": None,
        "tags": {},
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    return Campaign(**(values | overrides))


@pytest.mark.parametrize(
    ("overrides", "subject", "field"),
    [
        ({}, "Hello\r\nBcc: victim@example.com", "subject"),
        ({"from_name": "Acme\r\nBcc: victim@example.com"}, "S", "fromAddress display name"),
        ({"reply_to": "help@example.com\nBcc: victim@example.com"}, "S", "replyTo"),
    ],
)
def test_the_test_send_builder_refuses_its_input_too(overrides: dict[str, Any], subject: str, field: str) -> None:
    with pytest.raises(HeaderInjection) as caught:
        build_test_message(_campaign(**overrides), "me@example.com", subject, "<p>x</p>", None)
    assert caught.value.field == field


async def test_a_stored_bad_value_fails_the_test_send_and_nothing_reaches_ses(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    """A from name that reached the table without the API (an old row, a script) still never becomes a header."""
    settings = campaign_settings(herald_settings)
    headers = bearer(settings)
    async with campaign_service(settings) as (_, client):
        draft = await new_campaign(client, headers, fromName="Acme")
        await aws.require_dynamodb().update_item(
            TableName=settings.resources.campaigns_table,
            Key={"tenantId": {"S": "acme"}, "campaignId": {"S": draft["campaignId"]}},
            UpdateExpression="SET fromName = :n",
            ExpressionAttributeValues={":n": {"S": "Acme\r\nBcc: victim@example.com"}},
        )
        answer = await client.post(
            f"/campaigns/{draft['campaignId']}/test-send", json={"emails": ["me@example.com"]}, headers=headers
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["sent"] == []
        (failure,) = answer.json()["failed"]
        assert failure["email"] == "me@example.com"
        assert failure["error"].startswith("invalid_header: fromAddress display name contains")


def test_check_message_headers_names_the_first_bad_field() -> None:
    with pytest.raises(HeaderInjection) as caught:
        check_message_headers({"subject": "ok", "X-Herald-Campaign": "c\n"}, addresses={"to": ("a@example.com", None)})
    assert caught.value.field == "X-Herald-Campaign"
