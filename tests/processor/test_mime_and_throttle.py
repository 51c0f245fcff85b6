"""The raw message (headers, alternatives, no header injection) and the rate limiter's pacing."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from herald_common.unsubscribe import verify_token
from herald_processor.domain import Throttle
from herald_processor.envelope import Envelope
from herald_processor.mime import HeaderInjection, build_message, ses_tags, tag_value, unsubscribe_url
from herald_processor.throttle import LocalThrottleBucket


def envelope(**overrides) -> Envelope:
    values = {
        "tenant_id": "acme",
        "campaign_id": "camp_0123",
        "batch_id": "batch_000007",
        "recipient": "ada@example.com",
        "destination": "ada@example.com",
        "attempt": 2,
        "from_address": "news@example.com",
        "from_name": 'Acme, "the" News',
        "reply_to": "help@example.com",
    }
    return Envelope(**(values | overrides))


def parse(raw: bytes):
    return message_from_bytes(raw, policy=default)


def test_the_message_carries_every_header_the_contract_names():
    url = unsubscribe_url("https://herald.test/", "secret", "acme", "camp_0123", "ada@example.com")
    message = parse(build_message(envelope(), "Héllo Ada", "<p>Hi</p>", "Hi", url))
    assert message["From"].addresses[0].display_name == 'Acme, "the" News'
    assert message["From"].addresses[0].addr_spec == "news@example.com"
    assert str(message["To"]) == "ada@example.com"
    assert str(message["Reply-To"]) == "help@example.com"
    assert str(message["Subject"]) == "Héllo Ada"
    assert message["X-Herald-Tenant"] == "acme"
    assert message["X-Herald-Campaign"] == "camp_0123"
    assert message["X-Herald-Recipient"] == "ada@example.com"
    assert message["X-Herald-Attempt"] == "2"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(message["List-Unsubscribe"]).startswith("<https://herald.test/u/")
    token = str(message["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[1]
    target = verify_token("secret", token)
    assert target is not None
    assert (target.tenant_id, target.campaign_id, target.email) == (
        "acme",
        "camp_0123",
        "ada@example.com",
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("html",)).get_content().strip() == "<p>Hi</p>"


def test_without_text_the_message_is_html_only():
    message = parse(build_message(envelope(), "S", "<p>Hi</p>", None, "https://h/u/t"))
    assert message.get_content_type() == "text/html"


@pytest.mark.parametrize(
    "overrides",
    [
        {"from_name": "Acme\r\nBcc: victim@example.com"},
        {"from_name": "Acme\nX: y"},
        {"reply_to": "help@example.com\r\nBcc: victim@example.com"},
        {"from_address": "news@example.com, other@example.com"},
    ],
)
def test_line_breaks_or_extra_addresses_in_headers_are_refused(overrides):
    with pytest.raises(HeaderInjection):
        build_message(envelope(**overrides), "S", "<p>x</p>", None, "https://h/u/t")


def test_a_line_break_in_the_rendered_subject_is_refused_not_folded():
    with pytest.raises(HeaderInjection):
        build_message(envelope(), "Hi\r\nBcc: victim@example.com", "<p>x</p>", None, "https://h/u/t")


def test_tag_values_keep_to_what_ses_allows():
    assert tag_value("acme") == "acme"
    assert tag_value("a.b c/d") == "a_b_c_d"
    tags = ses_tags(envelope())
    assert tags == {
        "herald-tenant": "acme",
        "herald-campaign": "camp_0123",
        "herald-batch": "batch_000007",
        "herald-attempt": "2",
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_per_minute_limit_paces_sends():
    clock = FakeClock()
    bucket = LocalThrottleBucket(clock=clock, sleep=clock.sleep)
    throttle = Throttle(emails_per_minute=60)
    for _ in range(5):
        assert await bucket.acquire("c1", throttle, max_wait=100)
    assert clock.now == pytest.approx(1004.0)  # one at once, then one per second
    assert await bucket.acquire("c2", throttle, max_wait=100)  # another campaign has its own bucket
    assert clock.now == pytest.approx(1004.0)


async def test_the_strictest_limit_wins_and_the_account_rate_applies_to_all():
    clock = FakeClock()
    bucket = LocalThrottleBucket(account_rate=2.0, clock=clock, sleep=clock.sleep)
    hourly = Throttle(emails_per_minute=600, emails_per_hour=360)  # 0.1/s
    assert await bucket.acquire("c1", hourly, max_wait=100)
    assert await bucket.acquire("c1", hourly, max_wait=100)
    assert clock.now == pytest.approx(1010.0)
    start = clock.now
    for _ in range(4):
        assert await bucket.acquire("c2", Throttle(), max_wait=100)
    assert clock.now - start == pytest.approx(1.0, abs=0.01)  # 2/s account rate, burst of 2


async def test_a_slot_beyond_max_wait_is_refused_without_being_taken():
    clock = FakeClock()
    bucket = LocalThrottleBucket(clock=clock, sleep=clock.sleep)
    throttle = Throttle(emails_per_minute=6)  # one per 10 s
    assert await bucket.acquire("c", throttle, max_wait=1)
    assert not await bucket.acquire("c", throttle, max_wait=5)
    assert clock.slept == []
    assert await bucket.acquire("c", throttle, max_wait=10)
    assert clock.slept == [pytest.approx(10.0)]


async def test_no_limits_never_waits():
    clock = FakeClock()
    bucket = LocalThrottleBucket(clock=clock, sleep=clock.sleep)
    for _ in range(100):
        assert await bucket.acquire("c", Throttle(), max_wait=0)
    assert clock.slept == []
