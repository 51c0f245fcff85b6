"""The hand-built raw message read back by Python's `email` parser: every header and body decodes to what was put
in, lines keep to RFC 5322's limits, and nothing in a body can end the MIME part early."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from herald_processor.envelope import Envelope
from herald_processor.mime import HeaderInjection, build_message, quoted_printable, unstructured_header


def envelope(**overrides: object) -> Envelope:
    values: dict[str, object] = {
        "tenant_id": "acme",
        "campaign_id": "camp_0123",
        "batch_id": "batch_000007",
        "recipient": "ada@example.com",
        "destination": "ada@example.com",
        "attempt": 3,
        "from_address": "news@example.com",
        "from_name": None,
        "reply_to": None,
    }
    return Envelope(**(values | overrides))  # type: ignore[arg-type]


def parse(raw: bytes):
    message = message_from_bytes(raw, policy=default)
    assert message.defects == []
    for part in message.walk():
        assert part.defects == []
    return message


def assert_line_limits(raw: bytes) -> None:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF"
    assert b"\r" not in raw.replace(b"\r\n", b"")
    for line in head.split(b"\r\n"):
        content = line.strip().split(b": ", 1)[-1] if line[:1] != b" " else line.strip()
        assert len(line) <= 78 or b" " not in content, line  # folded wherever a space allows
        assert len(line) <= 998
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), "quoted-printable lines are at most 76 characters"


SUBJECTS = [
    "Hello Ada",
    "Héllo Ada, ça va ? 日本語のニュースレター — 🎉",
    "A long plain subject line " * 8,
    "Ünïcödé " * 30,
    "=?utf-8?q?not_an_encoded_word?= really",
    "Tab\tand\x07bell",
    "x" * 300,
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_decode_to_what_was_rendered(subject: str) -> None:
    raw = build_message(envelope(), subject, "<p>x</p>", None, "https://h/u/t")
    assert_line_limits(raw)
    assert str(parse(raw)["Subject"]) == " ".join(subject.split())


BODIES = [
    "plain",
    "line one\nline two\r\nline three\rline four",
    "trailing spaces   \nand tabs\t\n",
    "=3D is not an escape here, = signs stay = signs",
    "--=_herald_abc\n-- a line that looks like a boundary\n",
    "ünïcödé and 日本語 and 🎉 " * 40,
    "a" * 500,
    "no final newline",
    "\n\nblank lines around\n\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_bodies_decode_to_what_was_rendered(body: str) -> None:
    html = f"<p>{body}</p>"
    raw = build_message(envelope(), "S", html, body, "https://h/u/t")
    assert_line_limits(raw)
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    expected_text = body.replace("\r\n", "\n").replace("\r", "\n")
    expected_text += "" if expected_text.endswith("\n") else "\n"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == expected_text
    assert (
        message.get_body(("html",)).get_content().replace("\r\n", "\n")
        == html.replace("\r\n", "\n").replace("\r", "\n") + "\n"
    )


def test_html_only_message() -> None:
    raw = build_message(envelope(), "S", "<p>ünï</p>", None, "https://h/u/t")
    message = parse(raw)
    assert message.get_content_type() == "text/html"
    assert message.get_content() == "<p>ünï</p>\r\n"
    assert message["Content-Transfer-Encoding"] == "quoted-printable"


@pytest.mark.parametrize(
    ("name", "address"),
    [
        (None, "news@example.com"),
        ("Acme News", "news@example.com"),
        ('Acme, "the" News', "news@example.com"),
        ("Ünïcode Naïve Ltd — Nouvelles", "news@example.com"),
        (None, "first.o'brien+tag@sub.example.com"),
        ("A (comment) <fake@evil.com>", "news@example.com"),
    ],
)
def test_sender_addresses_round_trip(name: str | None, address: str) -> None:
    raw = build_message(envelope(from_name=name, from_address=address, reply_to=address), "S", "h", None, "u")
    message = parse(raw)
    sender = message["From"].addresses
    assert len(sender) == 1
    assert (sender[0].display_name, sender[0].addr_spec) == (name or "", address)
    assert message["Reply-To"].addresses[0].addr_spec == address


def test_herald_headers_and_unicode_recipient_round_trip() -> None:
    raw = build_message(
        envelope(recipient="ada@exämple.com", destination="ada@xn--exmple-cua.com"), "S", "h", None, "https://h/u/t"
    )
    message = parse(raw)
    assert str(message["To"]) == "ada@xn--exmple-cua.com"
    assert str(message["X-Herald-Recipient"]) == "ada@exämple.com"
    assert (message["X-Herald-Tenant"], message["X-Herald-Campaign"]) == ("acme", "camp_0123")
    assert (message["X-Herald-Batch"], message["X-Herald-Attempt"]) == ("batch_000007", "3")
    assert str(message["Message-ID"]).endswith("@example.com>")
    assert message["MIME-Version"] == "1.0"


def test_each_message_has_its_own_message_id_and_boundary() -> None:
    first, second = (parse(build_message(envelope(), "S", "h", "t", "u")) for _ in range(2))
    assert first["Message-ID"] != second["Message-ID"]
    assert first.get_boundary() != second.get_boundary()


@pytest.mark.parametrize("value", ["a\r\nBcc: x@y", "a\nb", "a\rb"])
def test_unstructured_headers_refuse_line_breaks(value: str) -> None:
    with pytest.raises(HeaderInjection):
        unstructured_header("X-Herald-Batch", value)
    with pytest.raises(HeaderInjection):
        build_message(envelope(batch_id=value), "S", "h", None, "u")
    with pytest.raises(HeaderInjection):
        build_message(envelope(), "S", "h", None, f"https://h/u/{value}")


def test_non_ascii_destination_goes_through_the_address_parser() -> None:
    raw = build_message(envelope(destination="ada@xn--exmple-cua.com"), "S", "h", None, "u")
    assert b"To: ada@xn--exmple-cua.com\r\n" in raw
    with pytest.raises(HeaderInjection):
        build_message(envelope(destination="a@b.com, c@d.com"), "S", "h", None, "u")


def test_quoted_printable_escapes_what_could_break_the_structure() -> None:
    encoded = quoted_printable("= at start\n--boundary\n" + "é" * 60)
    assert b"=3D at start" in encoded
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert encoded.endswith(b"\r\n")
