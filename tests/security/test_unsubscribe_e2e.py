"""RFC 8058 end to end, with real processes against the emulator: every campaign email SES accepted carries
`List-Unsubscribe: <{public}/u/{token}>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, its HTML carries
the same link through `unsubscribe_url`; a GET of the link changes nothing; the one-click POST (no login, no cookie)
suppresses the address, and every later campaign of that tenant skips it (the processor), another tenant's not."""

from __future__ import annotations

import email
import secrets
import time
from email.policy import default
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack
from herald_common.unsubscribe import UnsubscribeTarget, verify_token

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HTML = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
PEOPLE = [{"email": f"{n}@example.org", "data": {"first_name": n.title()}} for n in ("ada", "bob", "cy")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(prefix="u" + secrets.token_hex(4), ports="free", log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


def _sent(client: HeraldClient, campaign_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        campaign = client.get_campaign(campaign_id)
        if campaign["status"] == "sent":
            return campaign
        time.sleep(0.5)
    raise AssertionError(f"{campaign_id} is still {campaign['status']}")


def _messages(stack: DevStack, campaign_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.emulator_url}/_emulator/ses/messages", timeout=30).json()["messages"]
    return [m for m in answer if m["tags"].get("herald-campaign") == campaign_id]


def _raw(stack: DevStack, message_id: str) -> email.message.EmailMessage:
    """The whole message SES accepted (moto keeps raw sends with their body)."""
    data = httpx.get(f"{stack.emulator_url}/moto-api/data.json", timeout=30).json()
    (raw,) = [m["raw_data"] for m in data["ses"]["RawMessage"] if m["id"] == message_id]
    parsed = email.message_from_string(raw, policy=default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _campaign(client: HeraldClient, recipients: list[dict[str, Any]]) -> str:
    created = client.create_campaign(name="News", template_id="news", from_address="news@example.com",
                                     recipients=recipients)  # fmt: skip
    client.send_campaign(created["campaignId"])
    return str(created["campaignId"])


def test_one_click_unsubscribe_from_a_real_email_suppresses_every_later_send(stack: DevStack) -> None:
    secret = stack.settings.unsubscribe_secret
    admin = {"Authorization": f"Bearer {stack.token('acme', 'admin')}"}
    with HeraldClient(stack.urls, stack.token("acme", "marketer"), timeout=60) as acme:
        acme.put_template("news", subject="News for {{ first_name }}", html=HTML)
        first = _campaign(acme, PEOPLE)
        _sent(acme, first)
        messages = _messages(stack, first)
        assert sorted(d for m in messages for d in m["destinations"]) == [p["email"] for p in PEOPLE]
        links = {}
        for message in messages:
            (to,) = message["destinations"]
            assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            header = message["headers"]["List-Unsubscribe"]
            assert header.startswith(f"<{stack.urls.campaign}/u/")
            assert header.endswith(">")
            link = header[1:-1]
            assert verify_token(secret, link.rsplit("/", 1)[1]) == UnsubscribeTarget("acme", first, to)
            links[to] = link
        # the visible link in the body is the same one (the template's `unsubscribe_url`)
        ada_message = next(m for m in messages if m["destinations"] == ["ada@example.org"])
        raw = _raw(stack, ada_message["messageId"])
        assert raw["List-Unsubscribe"] == f"<{links['ada@example.org']}>"
        body = raw.get_body(("html",))
        assert body is not None
        assert f'href="{links["ada@example.org"]}"' in body.get_content()

        with httpx.Client(timeout=30) as browser:
            # a scanner or a person opening the link: a page asking to confirm, nothing suppressed
            page = browser.get(links["ada@example.org"], headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert '<form method="post">' in page.text
            listed = browser.get(f"{stack.urls.campaign}/suppressions", headers=admin).json()["suppressions"]
            assert listed == []
            # the mail client's one-click POST: no token, no cookie; twice is the same as once
            for _ in range(2):
                one_click = browser.post(links["ada@example.org"], data={"List-Unsubscribe": "One-Click"})
                assert one_click.status_code == 200, one_click.text
            assert not browser.cookies
            listed = browser.get(f"{stack.urls.campaign}/suppressions", headers=admin).json()["suppressions"]
            assert [(s["email"], s["reason"]) for s in listed] == [("ada@example.org", "unsubscribe")]
            audit = browser.get(f"{stack.urls.campaign}/audit", params={"action": "suppression.unsubscribe"},
                                headers=admin).json()["records"]  # fmt: skip
            assert [(r["actor"], r["target"], r["status"]) for r in audit] == [
                ("unsubscribe-link", "ada@example.org", 200),
                ("unsubscribe-link", "ada@example.org", 200),
            ]

        # every later campaign of acme skips ada; the processor counts her as suppressed
        second = _campaign(acme, PEOPLE)
        counts = _sent(acme, second)["counts"]
        assert sorted(d for m in _messages(stack, second) for d in m["destinations"]) == [
            "bob@example.org",
            "cy@example.org",
        ]
        assert (counts["sent"], counts["suppressed"]) == (2, 1)

    # another tenant's list is its own
    with HeraldClient(stack.urls, stack.token("globex", "marketer"), timeout=60) as globex:
        globex.put_template("news", subject="Hi", html=HTML)
        theirs = _campaign(globex, PEOPLE[:1])
        _sent(globex, theirs)
        assert [m["destinations"] for m in _messages(stack, theirs)] == [["ada@example.org"]]
