"""Address validation, normalisation and de-duplication at intake."""

from __future__ import annotations

from herald_campaign.campaigns.intake import (
    MAX_RECIPIENT_DATA_BYTES,
    AddressSet,
    RecipientFilter,
    address_key,
    invalid_row,
    normalise_address,
    suppression_key,
)


def test_normalisation_lowercases_the_domain_only() -> None:
    assert normalise_address("  Ada@Example.COM ") == "Ada@example.com"
    assert address_key("Ada@example.com") == "ada@example.com"
    assert suppression_key("ADA@EXAMPLE.com") == "ada@example.com"
    assert suppression_key("Not An Address") == "not an address"


def test_invalid_addresses_are_refused() -> None:
    for bad in ("", "plain", "a@", "@b.com", "a@b", "a b@c.com", "a@b.com\r\nBcc: x@y.com", "ünï@example.com"):
        assert normalise_address(bad) is None, bad


def test_filter_counts_and_dedupes_case_insensitively() -> None:
    f = RecipientFilter()
    items = [
        {"email": "ada@example.com", "data": {"first_name": "Ada"}},
        {"email": "ADA@Example.com"},  # duplicate of the first
        "bob@example.com",  # bare address
        {"email": "not-an-address"},
        {"email": "carol@example.com", "data": ["not", "an", "object"]},
        {"email": "dan@example.com", "data": {"blob": "x" * MAX_RECIPIENT_DATA_BYTES}},
        {"no_email": True},
        42,
    ]
    admitted = [r for item in items if (r := f.admit(item)) is not None]
    assert [r.email for r in admitted] == ["ada@example.com", "bob@example.com"]
    assert admitted[0].data == {"first_name": "Ada"}
    assert f.counts.as_response() == {"accepted": 2, "invalid": 5, "duplicates": 1, "total": 8}


def test_filter_dedupes_against_what_the_campaign_holds() -> None:
    f = RecipientFilter(AddressSet(["ada@example.com"]))
    assert f.admit("Ada@EXAMPLE.com") is None
    assert f.admit("bob@example.com") is not None
    assert (f.counts.accepted, f.counts.duplicates) == (1, 1)


def test_address_set_holds_many_keys_exactly_and_compactly() -> None:
    keys = [f"user{i}@example.com" for i in range(20_000)]
    seen = AddressSet(keys[::2])
    assert len(seen) == 10_000
    assert all(k in seen for k in keys[::2])
    assert not any(k in seen for k in keys[1::2])
    seen.add(keys[0])  # already there
    assert len(seen) == 10_000
    assert 1 not in seen  # not a key at all
    # 8 bytes a slot, at most half full: far below a set of strings (about 110 bytes an address).
    assert seen._slots.itemsize * len(seen._slots) <= 32 * len(seen)


def test_invalid_rows_say_why() -> None:
    assert invalid_row(1, "nope") == {"row": 1, "email": "nope", "reason": "invalid_address"}
    assert invalid_row(2, {"data": {"a": 1}}) == {"row": 2, "email": None, "reason": "missing_email", "data": {"a": 1}}
    assert invalid_row(3, {"email": "a@example.com", "data": [1]})["reason"] == "invalid_data"
    big = {"x": "y" * MAX_RECIPIENT_DATA_BYTES}
    assert invalid_row(4, {"email": "a@example.com", "data": big})["reason"] == "data_too_large"
    assert invalid_row(5, 42) == {"row": 5, "email": None, "reason": "missing_email"}
