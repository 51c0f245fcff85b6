"""Mailbox providers: consumer domains from the bundled list, other domains by MX (a fake resolver for the port,
and the kit's dnspython adapter against a DNS server that answers nothing), cached, errors meaning `other`. The
adapter's own answers: tests/common/test_dns.py."""

from __future__ import annotations

import socket

import pytest

from herald_common.dns import DnsLookupFailed, DnspythonResolver
from herald_processor.providers import HIT_TTL_SECONDS, MISS_TTL_SECONDS, Provider, ProviderDirectory


class FakeMx:
    def __init__(self, zone: dict[str, list[str]], failing: set[str] | None = None) -> None:
        self.zone = zone
        self.failing = failing or set()
        self.asked: list[str] = []

    async def mx(self, domain: str) -> list[str]:
        self.asked.append(domain)
        if domain in self.failing:
            raise DnsLookupFailed(domain)
        return self.zone.get(domain, [])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("email", "provider"),
    [
        ("a@gmail.com", Provider.GOOGLE),
        ("a@GoogleMail.com", Provider.GOOGLE),
        ("a@hotmail.com", Provider.MICROSOFT),
        ("a@outlook.com", Provider.MICROSOFT),
        ("a@yahoo.co.uk", Provider.YAHOO),
        ("a@aol.com", Provider.YAHOO),
        ("a@icloud.com", Provider.APPLE),
        ("a@me.com", Provider.APPLE),
    ],
)
async def test_consumer_domains_map_without_dns(email: str, provider: Provider) -> None:
    resolver = FakeMx({})
    assert await ProviderDirectory(resolver).provider_of(email) is provider
    assert resolver.asked == []


async def test_other_domains_are_classified_by_mx_and_cached() -> None:
    resolver = FakeMx(
        {
            "workspace.example": ["aspmx.l.google.com", "alt1.aspmx.l.google.com"],
            "m365.example": ["m365-example.mail.protection.outlook.com"],
            "own.example": ["mx.own.example"],
            # a host merely containing a provider's name is not that provider's
            "sly.example": ["google.com.sly.example"],
        }
    )
    clock = Clock()
    directory = ProviderDirectory(resolver, clock=clock)
    assert await directory.provider_of("x@workspace.example") is Provider.GOOGLE
    assert await directory.provider_of("x@M365.example") is Provider.MICROSOFT
    assert await directory.provider_of("x@own.example") is Provider.OTHER
    assert await directory.provider_of("x@sly.example") is Provider.OTHER
    assert await directory.provider_of("x@nomx.example") is Provider.OTHER
    asked = len(resolver.asked)
    assert await directory.provider_of("y@workspace.example") is Provider.GOOGLE
    assert len(resolver.asked) == asked  # cached
    clock.now += HIT_TTL_SECONDS + 1
    assert await directory.provider_of("y@workspace.example") is Provider.GOOGLE
    assert len(resolver.asked) == asked + 1  # asked again once the cache entry expired


async def test_a_failed_lookup_means_other_and_is_asked_again_soon() -> None:
    resolver = FakeMx({"flaky.example": ["aspmx.l.google.com"]}, failing={"flaky.example"})
    clock = Clock()
    directory = ProviderDirectory(resolver, clock=clock)
    assert await directory.provider_of("a@flaky.example") is Provider.OTHER
    resolver.failing.clear()
    assert await directory.provider_of("a@flaky.example") is Provider.OTHER  # the miss is cached a while
    clock.now += MISS_TTL_SECONDS + 1
    assert await directory.provider_of("a@flaky.example") is Provider.GOOGLE


async def test_dnspython_adapter_times_out_to_other() -> None:
    # A UDP socket that never answers: the resolver's lifetime runs out, which is a failed lookup, hence `other`.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        resolver = DnspythonResolver(lifetime=0.3, nameservers=["127.0.0.1"], port=port)
        with pytest.raises(DnsLookupFailed):
            await resolver.mx("company.example")
        assert await ProviderDirectory(resolver).provider_of("a@company.example") is Provider.OTHER
