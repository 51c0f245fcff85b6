"""The kit's dnspython resolver against a real DNS server on 127.0.0.1 (a fake zone, tests/security/fake_dns.py):
MX, TXT and CNAME answers, "no such name" and "no such record" as empty answers, and no answer at all as
`DnsLookupFailed`. What each service makes of a failure: tests/processor/test_providers.py (`other`) and
tests/security/test_sender_auth.py (a check in error)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from herald_common.dns import DnsLookupFailed, DnspythonResolver
from tests.security.fake_dns import ZoneServer

if TYPE_CHECKING:
    from collections.abc import Iterator

ZONE = """\
@ 300 IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@ 300 IN NS ns
@ 300 IN MX 10 ASPMX.L.Google.com.
@ 300 IN MX 20 alt1.aspmx.l.google.com.
@ 300 IN TXT "v=spf1 include:amazonses.com" " ~all"
@ 300 IN TXT "google-site-verification=abc"
_dmarc 300 IN TXT "v=DMARC1; p=reject"
tok._domainkey 300 IN CNAME Tok.DKIM.AmazonSES.com.
"""


@pytest.fixture
def resolver() -> Iterator[DnspythonResolver]:
    with ZoneServer(ZONE, "example.com.") as server:
        yield DnspythonResolver(lifetime=2.0, nameservers=["127.0.0.1"], port=server.port)


async def test_mx_hosts_are_lowercase_without_the_final_dot(resolver: DnspythonResolver) -> None:
    assert sorted(await resolver.mx("example.com")) == ["alt1.aspmx.l.google.com", "aspmx.l.google.com"]


async def test_txt_joins_each_records_strings(resolver: DnspythonResolver) -> None:
    assert sorted(await resolver.txt("example.com")) == [
        "google-site-verification=abc",
        "v=spf1 include:amazonses.com ~all",
    ]
    assert await resolver.txt("_dmarc.example.com") == ["v=DMARC1; p=reject"]


async def test_cname_is_the_lowercase_target_without_the_final_dot(resolver: DnspythonResolver) -> None:
    assert await resolver.cname("tok._domainkey.example.com") == "tok.dkim.amazonses.com"


async def test_no_such_name_and_no_such_record_are_empty_answers(resolver: DnspythonResolver) -> None:
    assert await resolver.mx("nowhere.example.com") == []  # NXDOMAIN
    assert await resolver.mx("_dmarc.example.com") == []  # the name exists, with no MX record
    assert await resolver.txt("nowhere.example.com") == []
    assert await resolver.cname("example.com") is None


@pytest.mark.parametrize("lookup", ["mx", "txt", "cname"])
async def test_a_server_that_never_answers_is_a_failed_lookup(lookup: str) -> None:
    # A UDP socket that never answers: the resolver's lifetime runs out.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        resolver = DnspythonResolver(lifetime=0.3, nameservers=["127.0.0.1"], port=silent.getsockname()[1])
        with pytest.raises(DnsLookupFailed, match=rf"^example\.com {lookup.upper()}: LifetimeTimeout$"):
            await getattr(resolver, lookup)("example.com")
