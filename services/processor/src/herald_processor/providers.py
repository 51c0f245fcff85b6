"""Which mailbox provider a recipient's mail lands at: google, microsoft, yahoo, apple or other.

Consumer domains (gmail.com, outlook.com, …) map directly from `data/provider_domains.json`. Any other domain is
classified by its MX records, since a company domain hosted by Google Workspace or Microsoft 365 is paced by that
provider just the same. Lookups are cached; a timeout or a DNS error means `other` (cached briefly, so a flaky
resolver neither slows every batch nor sticks).
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

log = structlog.get_logger("herald.processor.providers")

HIT_TTL_SECONDS = 6 * 3600.0
MISS_TTL_SECONDS = 60.0  # a failed lookup is asked again soon
MAX_CACHED_DOMAINS = 50_000


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    YAHOO = "yahoo"
    APPLE = "apple"
    OTHER = "other"


class MxResolver(Protocol):
    """The port `ProviderDirectory` asks; `herald_common.dns.DnspythonResolver` serves it. Any exception it raises
    (`DnsLookupFailed` for no answer at all) is a failed lookup, hence `other`."""

    async def mx(self, domain: str) -> list[str]:
        """The MX exchange host names of `domain` (lowercase, no trailing dot); empty when it has none."""
        ...


class ProviderTable:
    """The maintained list: consumer domains and MX host suffixes by provider."""

    def __init__(self, domains: dict[str, Provider], mx_suffixes: list[tuple[str, Provider]]) -> None:
        self.domains = domains
        self.mx_suffixes = mx_suffixes

    @classmethod
    def bundled(cls) -> ProviderTable:
        raw = json.loads(resources.files("herald_processor").joinpath("data/provider_domains.json").read_text())
        domains = {d.lower(): Provider(p) for p, names in raw["domains"].items() for d in names}
        suffixes = [(s.lower(), Provider(p)) for p, names in raw["mx_suffixes"].items() for s in names]
        return cls(domains, suffixes)

    def by_mx(self, hosts: list[str]) -> Provider:
        for host in hosts:
            for suffix, provider in self.mx_suffixes:
                if host == suffix or host.endswith("." + suffix):
                    return provider
        return Provider.OTHER


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().rstrip(".").lower()


class ProviderDirectory:
    """`provider_of(email)`: the table first, then MX records through the injected resolver, cached."""

    def __init__(
        self,
        resolver: MxResolver,
        table: ProviderTable | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._table = table or ProviderTable.bundled()
        self._clock = clock
        self._cache: dict[str, tuple[Provider, float]] = {}

    async def provider_of(self, email: str) -> Provider:
        domain = domain_of(email)
        known = self._table.domains.get(domain)
        if known is not None:
            return known
        now = self._clock()
        cached = self._cache.get(domain)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            provider, ttl = self._table.by_mx(await self._resolver.mx(domain)), HIT_TTL_SECONDS
        except Exception as exc:  # any resolver failure: pace as `other` rather than hold the batch
            log.warning("processor.mx_lookup_failed", domain=domain, error=str(exc))
            provider, ttl = Provider.OTHER, MISS_TTL_SECONDS
        if len(self._cache) >= MAX_CACHED_DOMAINS:
            self._cache.clear()
        self._cache[domain] = (provider, now + ttl)
        return provider
