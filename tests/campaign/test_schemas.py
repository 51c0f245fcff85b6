"""Request bodies: what is refused with 422 before any rule runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from herald_campaign.campaigns.schemas import CampaignCreate, SendRequest

VALID = {"name": "Spring", "templateId": "newsletter", "fromAddress": "news@Example.com"}


def test_create_normalises_the_sender() -> None:
    body = CampaignCreate.model_validate(VALID | {"replyTo": "Help@Example.com", "tags": {"team": "growth"}})
    assert (body.from_address, body.reply_to) == ("news@example.com", "Help@example.com")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fromAddress": "not-an-address"}, "fromAddress"),
        ({"fromName": "Evil\r\nBcc: victim@example.com"}, "fromName"),
        ({"replyTo": "a@example.com\nBcc: b@example.com"}, "replyTo"),
        ({"name": "two\nlines"}, "name"),
        ({"templateId": "../etc"}, "templateId"),
        ({"name": ""}, "name"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_create_refuses(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CampaignCreate.model_validate(VALID | change)
    assert field in str(caught.value)


def test_send_defaults() -> None:
    body = SendRequest.model_validate({})
    assert body.send_at == "immediate"
    assert body.priority.value == "normal"


@pytest.mark.parametrize(
    "body",
    [
        {"throttle": {"emailsPerMinute": 0}},
        {"throttle": {"emailsPerHour": -5}},
        {"throttle": {"emailsPerMinute": 100, "emailsPerHour": 50}},
        {"sendAt": "2001-01-01T00:00:00Z"},
        {"sendAt": "2099-01-01T00:00:00"},
        {"sendAt": "soon"},
        {"priority": "urgent"},
        {"throttle": {"emailsPerSecond": 1}},
    ],
)
def test_send_refuses_malformed_bodies(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SendRequest.model_validate(body)


def test_send_accepts_the_flow_document_body() -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = SendRequest.model_validate(
        {"campaignId": "camp_123456789", "sendAt": later, "throttle": {"emailsPerMinute": 100, "emailsPerHour": 1000}}
    )
    assert body.throttle is not None
    assert body.throttle.as_item() == {"emailsPerMinute": 100, "emailsPerHour": 1000}
    assert body.campaign_id == "camp_123456789"
