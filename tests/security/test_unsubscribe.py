"""RFC 8058 unsubscribe, point by point, over the campaign app: the token is an HMAC over tenant, campaign and
recipient (constant-time check; any alteration refused); GET shows a confirmation page whose form POSTs and never
unsubscribes; POST needs no login or cookie and is idempotent. The end-to-end half is test_unsubscribe_e2e.py."""

from __future__ import annotations

import base64
import hmac
import json
from typing import TYPE_CHECKING, Any

import pytest

from herald_common.unsubscribe import UnsubscribeTarget, make_token, verify_token
from tests.security.guard_support import bearer, campaign_service, campaign_settings

if TYPE_CHECKING:
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(60)

SECRET = "s" * 40
TARGET = UnsubscribeTarget("acme", "camp_00000000000000000001", "ada@example.com")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with_payload(token: str, payload: list[str]) -> str:
    """The token's MAC on another payload: what an attacker editing the link would produce."""
    return _b64(json.dumps(payload, separators=(",", ":")).encode()) + "." + token.split(".", 1)[1]


def test_a_genuine_token_names_its_tenant_campaign_and_recipient() -> None:
    assert verify_token(SECRET, make_token(SECRET, TARGET)) == TARGET


@pytest.mark.parametrize(
    "payload",
    [
        ["globex", TARGET.campaign_id, TARGET.email],  # another tenant
        [TARGET.tenant_id, "camp_00000000000000000002", TARGET.email],  # another campaign
        [TARGET.tenant_id, TARGET.campaign_id, "bob@example.com"],  # another recipient
    ],
)
def test_the_mac_covers_tenant_campaign_and_recipient(payload: list[str]) -> None:
    assert verify_token(SECRET, _with_payload(make_token(SECRET, TARGET), payload)) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the MAC
        lambda t: t.split(".")[0],  # no MAC
        lambda t: t + "." + t,  # garbage appended
        lambda t: "not-a-token",
        lambda t: "",
        lambda t: t.split(".")[0] + "." + _b64(b"\x00" * 16),
    ],
)
def test_an_altered_or_malformed_token_is_refused(mangle: Any) -> None:
    assert verify_token(SECRET, mangle(make_token(SECRET, TARGET))) is None


def test_a_token_signed_with_another_secret_is_refused() -> None:
    assert verify_token(SECRET, make_token("another-secret-" + "x" * 30, TARGET)) is None


def test_the_mac_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("herald_common.unsubscribe.hmac.compare_digest", spy)
    token = make_token(SECRET, TARGET)
    assert verify_token(SECRET, token) == TARGET
    assert verify_token(SECRET, token[:-2] + "AA") is None
    assert len(compared) == 2  # every verification goes through hmac.compare_digest, never ==


# --- the routes -----------------------------------------------------------------------------------------------------
async def _suppressions(client: Any, settings: Any) -> list[dict[str, Any]]:
    answer = await client.get("/suppressions", headers=bearer(settings, "acme", "admin"))
    assert answer.status_code == 200
    entries: list[dict[str, Any]] = answer.json()["suppressions"]
    return entries


async def test_get_shows_a_confirmation_page_with_a_post_form_and_never_unsubscribes(
    herald_settings: HeraldSettings,
) -> None:
    settings = campaign_settings(herald_settings)
    token = make_token(settings.unsubscribe_secret, TARGET)
    async with campaign_service(settings) as (_, client):
        for _ in range(3):  # a scanner prefetching the link, a user opening it twice
            page = await client.get(f"/u/{token}", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert '<form method="post">' in page.text  # no action: it posts to this same URL
            assert "ada@example.com" in page.text
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "set-cookie" not in page.headers
        assert await _suppressions(client, settings) == []


async def test_one_click_post_needs_no_login_or_cookie_and_is_idempotent(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    token = make_token(settings.unsubscribe_secret, TARGET)
    async with campaign_service(settings) as (_, client):
        client.cookies.clear()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        answers = [
            await client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click", headers=form) for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert answers[0].json() == {"status": "unsubscribed", "email": "ada@example.com"}
        assert all("set-cookie" not in a.headers for a in answers)
        (entry,) = await _suppressions(client, settings)
        assert (entry["email"], entry["reason"], entry["campaignId"]) == (
            "ada@example.com",
            "unsubscribe",
            TARGET.campaign_id,
        )
        # the confirmation form's POST (a browser, Accept: text/html) lands on a page, same effect
        done = await client.post(f"/u/{token}", headers={"Accept": "text/html"})
        assert done.status_code == 200
        assert "unsubscribed" in done.text
        assert len(await _suppressions(client, settings)) == 1


async def test_an_earlier_bounce_keeps_its_reason(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    admin = bearer(settings, "acme", "admin")
    async with campaign_service(settings) as (_, client):
        await client.post("/suppressions", json={"email": "ada@example.com", "reason": "bounce"}, headers=admin)
        assert (await client.post(f"/u/{make_token(settings.unsubscribe_secret, TARGET)}")).status_code == 200
        (entry,) = await _suppressions(client, settings)
        assert entry["reason"] == "bounce"


async def test_a_forged_or_altered_link_is_refused_and_changes_nothing(herald_settings: HeraldSettings) -> None:
    settings = campaign_settings(herald_settings)
    genuine = make_token(settings.unsubscribe_secret, TARGET)
    forged = [
        _with_payload(genuine, ["acme", TARGET.campaign_id, "bob@example.com"]),
        make_token("attacker-secret-" + "x" * 30, UnsubscribeTarget("acme", TARGET.campaign_id, "bob@example.com")),
        genuine[:-3] + "abc",
        "x" * 3000,
    ]
    async with campaign_service(settings) as (_, client):
        for token in forged:
            for method in ("GET", "POST"):
                answer = await client.request(method, f"/u/{token}")
                assert answer.status_code == 404, (method, token[:20])
                assert answer.json()["error"] == "UnsubscribeLinkInvalid"
        assert await _suppressions(client, settings) == []
