"""Unsubscribe tokens round-trip, and any change to a token (or the secret) is refused."""

from __future__ import annotations

import pytest

from herald_common.unsubscribe import UnsubscribeTarget, make_token, verify_token

SECRET = "s3cret"
TARGET = UnsubscribeTarget("acme", "camp_0123456789abcdef0123", "Ada.Lovelace@example.org")


def test_round_trip():
    token = make_token(SECRET, TARGET)
    assert verify_token(SECRET, token) == TARGET
    assert "@" not in token  # safe in a URL path
    assert "/" not in token


def test_another_secret_is_refused():
    assert verify_token("other", make_token(SECRET, TARGET)) is None


def test_an_altered_payload_is_refused():
    other = make_token(SECRET, UnsubscribeTarget("acme", TARGET.campaign_id, "eve@example.org"))
    _, mac = make_token(SECRET, TARGET).split(".")
    forged = other.split(".")[0] + "." + mac
    assert verify_token(SECRET, forged) is None


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "....", "eyJ4Ijoi.AAAA", "%%%.%%%"])
def test_malformed_tokens_are_refused(token):
    assert verify_token(SECRET, token) is None


@pytest.mark.parametrize("position", [0, 5, 10])
def test_a_changed_mac_character_is_refused(position):
    body, mac = make_token(SECRET, TARGET).split(".")
    changed = mac[:position] + ("A" if mac[position] != "A" else "B") + mac[position + 1 :]
    assert verify_token(SECRET, f"{body}.{changed}") is None
