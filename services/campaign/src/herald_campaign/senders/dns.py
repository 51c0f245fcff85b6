"""The DNS port of sender authentication, and its dnspython adapter.

Tests give the adapter a nameserver of their own (a fake zone served on 127.0.0.1), or give the checker a fake of
the port; nothing here needs the internet unless the deployment's resolver does.
"""

from __future__ import annotations

from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver


class DnsLookupFailed(Exception):
    """The question got no answer at all (timeout, no nameserver, SERVFAIL): not the same as "no such record"."""


class DnsResolver(Protocol):
    async def txt(self, name: str) -> list[str]:
        """The TXT strings at `name` (each record's strings joined); empty when there are none."""
        ...

    async def cname(self, name: str) -> str | None:
        """The CNAME target of `name` (no trailing dot, lowercased), or None when it has none."""
        ...


class DnspythonResolver:
    """`dns.asyncresolver` with a bounded lifetime per question. `nameservers` (and `port`) replace the system's."""

    def __init__(self, *, lifetime: float, nameservers: list[str] | None = None, port: int = 53) -> None:
        if nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port
        else:
            self._resolver = dns.asyncresolver.Resolver()
        self._resolver.lifetime = lifetime

    async def _answer(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.resolver.Answer | None:
        try:
            return await self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.YXDOMAIN) as exc:
            raise DnsLookupFailed(f"{name} {rdtype.name}: {type(exc).__name__}") from exc

    async def txt(self, name: str) -> list[str]:
        answer = await self._answer(name, dns.rdatatype.TXT)
        if answer is None:
            return []
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]

    async def cname(self, name: str) -> str | None:
        answer = await self._answer(name, dns.rdatatype.CNAME)
        if answer is None:
            return None
        for rdata in answer:
            target: dns.name.Name = rdata.target
            return target.to_text(omit_final_dot=True).lower()
        return None
