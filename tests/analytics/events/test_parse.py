"""Parsing and attribution of SES events: both wire forms, every event type, and what is refused."""

from __future__ import annotations

import json

import pytest

from herald_analytics.events.parse import MalformedEvent, UnattributableEvent, attribute, parse_event, parse_message
from herald_analytics.events.schemas import BounceType, CampaignRef, Effect, EventType, SuppressionReason

REF = CampaignRef("acme", "camp_0123456789abcdefghij")

# SES `eventType` → what Herald makes of it.
EXPECTED = [
    ("Send", EventType.SEND, Effect.NONE),
    ("Delivery", EventType.DELIVERY, Effect.DELIVERED),
    ("Bounce", EventType.BOUNCE, Effect.BOUNCED),
    ("Complaint", EventType.COMPLAINT, Effect.COMPLAINED),
    ("Reject", EventType.REJECT, Effect.REJECTED),
    ("DeliveryDelay", EventType.DELIVERY_DELAY, Effect.DELAYED),
    ("Rendering Failure", EventType.RENDERING_FAILURE, Effect.NONE),
    ("Open", EventType.OPEN, Effect.OPENED),
    ("Click", EventType.CLICK, Effect.CLICKED),
    ("Subscription", EventType.SUBSCRIPTION, Effect.NONE),
]


@pytest.mark.parametrize(("wire", "event_type", "effect"), EXPECTED)
@pytest.mark.parametrize("wrapped", [True, False], ids=["sns-envelope", "raw"])
def test_every_event_type_parses_in_both_deliveries(make_event, envelope, wire, event_type, effect, wrapped):
    document = make_event(wire, recipient="Ada@Example.com")
    body = envelope(document) if wrapped else json.dumps(document)

    event = parse_message(body)

    assert event is not None
    assert event.event_type is event_type
    assert event.effect is effect
    assert event.campaign == REF
    assert event.recipients == ("ada@example.com",)  # the ledger key: lowercased
    assert event.message_id == document["mail"]["messageId"]
    assert not event.is_test


@pytest.mark.parametrize("kind", ["Delivery", "Bounce", "Complaint"])
def test_identity_notification_form_is_attributed_by_headers(make_event, envelope, kind):
    document = make_event(kind, notification=True)
    assert "tags" not in document["mail"]
    assert "notificationType" in document

    event = parse_message(envelope(document))

    assert event is not None
    assert event.event_type is EventType(kind)
    assert event.campaign == REF
    assert event.recipients == ("ada@example.com",)


@pytest.mark.parametrize(
    ("bounce_type", "effect", "suppress"),
    [
        ("Permanent", Effect.BOUNCED, SuppressionReason.BOUNCE),
        ("Transient", Effect.SOFT_BOUNCED, None),
        ("Undetermined", Effect.SOFT_BOUNCED, None),
    ],
)
def test_bounce_types(make_event, bounce_type, effect, suppress):
    event = parse_event(make_event("Bounce", bounceType=bounce_type))

    assert event is not None
    assert event.bounce_type is BounceType(bounce_type)
    assert event.effect is effect
    assert event.suppression_reason is suppress
    assert event.feedback_id == "0100-bounce-feedback-000000"


def test_complaint_suppresses_but_not_spam_feedback_counts_nothing(make_event):
    complaint = parse_event(make_event("Complaint"))
    withdrawn = parse_event(make_event("Complaint", complaintFeedbackType="not-spam"))

    assert complaint is not None
    assert complaint.suppression_reason is SuppressionReason.COMPLAINT
    assert withdrawn is not None
    assert withdrawn.effect is Effect.NONE
    assert withdrawn.suppression_reason is None


def test_recipients_come_from_the_event_lists_before_destination(make_event):
    document = make_event("Bounce", recipient="a@example.com")
    document["bounce"]["bouncedRecipients"].append({"emailAddress": "B@example.com"})
    document["mail"]["destination"] = ["a@example.com", "b@example.com", "c@example.com"]
    document["mail"]["headers"] = [h for h in document["mail"]["headers"] if h["name"] != "X-Herald-Recipient"]

    event = parse_event(document)

    assert event is not None
    assert event.recipients == ("a@example.com", "b@example.com")


def test_events_without_recipient_lists_use_the_header_then_destination(make_event):
    opened = make_event("Open", recipient="ada@example.com")
    opened["mail"]["destination"] = ['"Ada" <ADA@example.com>', "other@example.com"]
    no_header = make_event("Open", headers=False)
    no_header["mail"]["destination"] = ['"Ada" <ADA@example.com>']

    first, second = parse_event(opened), parse_event(no_header)

    assert first is not None
    assert first.recipients == ("ada@example.com",)
    assert second is not None
    assert second.recipients == ("ada@example.com",)


def test_attribution_prefers_tags_and_falls_back_to_headers(make_event):
    tagged = make_event("Delivery")["mail"]
    tagged["headers"] = [{"name": "x-herald-tenant", "value": "other"}, {"name": "X-Herald-Campaign", "value": "c2"}]
    headers_only = make_event("Delivery", tags=False)["mail"]
    tags_only = make_event("Delivery", headers=False)["mail"]

    assert attribute(tagged).campaign == REF
    assert attribute(headers_only).campaign == REF
    assert attribute(headers_only).recipient == "ada@example.com"
    assert attribute(tags_only).campaign == REF
    assert attribute(tags_only).recipient is None


def test_attribution_mixes_a_tag_and_a_header(make_event):
    mail = make_event("Delivery", headers=False)["mail"]
    del mail["tags"]["herald-campaign"]
    mail["headers"] = [{"name": "X-Herald-Campaign", "value": REF.campaign_id}]

    assert attribute(mail).campaign == REF


def test_test_sends_are_flagged(make_event):
    event = parse_event(make_event("Delivery", test=True))

    assert event is not None
    assert event.is_test


@pytest.mark.parametrize(
    "strip",
    [
        {"tags": False, "headers": False},
        {"tenant": None},
        {"campaign": None},
        {"tenant": "acme#evil"},  # would forge another ledger key
    ],
    ids=["nothing", "no-tenant", "no-campaign", "bad-tenant"],
)
def test_unattributable_events_are_refused(make_event, envelope, strip):
    with pytest.raises(UnattributableEvent):
        parse_message(envelope(make_event("Delivery", **strip)))


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"Type": "Notification", "Message": "{broken"}),
        json.dumps({"eventType": "Delivery"}),
        json.dumps({"eventType": "Teleport", "mail": {"messageId": "m"}}),
        json.dumps({"mail": {"messageId": "m"}}),
        json.dumps({"eventType": "Delivery", "mail": {"destination": ["a@example.com"]}}),
    ],
    ids=["text", "array", "bad-envelope", "no-mail", "unknown-type", "no-type", "no-message-id"],
)
def test_malformed_bodies_are_refused(body):
    with pytest.raises(MalformedEvent):
        parse_message(body)


def test_event_without_any_recipient_is_malformed(make_event):
    document = make_event("Send", headers=False)
    document["mail"]["destination"] = []

    with pytest.raises(MalformedEvent):
        parse_event(document)


def test_notifications_about_no_message_are_ignored():
    confirmation = {"Type": "SubscriptionConfirmation", "Message": "You have chosen to subscribe", "Token": "t"}
    topic_test = {"Type": "Notification", "Message": json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded"})}

    assert parse_message(json.dumps(confirmation)) is None
    assert parse_message(json.dumps(topic_test)) is None


def test_event_ids_separate_what_differs_and_only_that(make_event):
    delivery = parse_event(make_event("Delivery"))
    again = parse_event(make_event("Delivery"))
    bounce = parse_event(make_event("Bounce"))
    click_a = parse_event(make_event("Click"))
    click_b = parse_event(make_event("Click", link="https://example.com/other"))
    assert delivery
    assert again
    assert bounce
    assert click_a
    assert click_b

    assert delivery.event_id("ada@example.com") == again.event_id("ada@example.com")
    assert delivery.event_id("ada@example.com") != delivery.event_id("bob@example.com")
    assert delivery.event_id("ada@example.com") != bounce.event_id("ada@example.com")
    assert click_a.event_id("ada@example.com") != click_b.event_id("ada@example.com")
