"""DNS lookups through dnspython, for the services that read DNS: the processor (MX, to tell a recipient's mailbox
provider) and the campaign service (TXT and CNAME, to check a sender domain's SPF, DKIM and DMARC).

Each service keeps its own port (`MxResolver`, `DnsResolver`) and decides what a failed lookup means to it: the
processor paces the domain as `other`, the campaign service shows the check as an error. Here a failure is only told
apart from an answer: "no such name" and "no record of that type" are empty answers; no answer at all is
`DnsLookupFailed`.
"""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver


class DnsLookupFailed(Exception):
    """The question got no answer at all (timeout, no nameserver, SERVFAIL): not the same as "no such record"."""


class DnspythonResolver:
    """`dns.asyncresolver` with a bounded lifetime per question. `nameservers` (and `port`) replace the system's, so
    a test can ask a DNS server of its own on 127.0.0.1."""

    def __init__(self, *, lifetime: float = 2.0, nameservers: list[str] | None = None, port: int = 53) -> None:
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

    async def mx(self, domain: str) -> list[str]:
        """The MX exchange host names of `domain` (lowercase, no trailing dot); empty when it has none."""
        answer = await self._answer(domain, dns.rdatatype.MX)
        if answer is None:
            return []
        return [str(rdata.exchange).rstrip(".").lower() for rdata in answer]

    async def txt(self, name: str) -> list[str]:
        """The TXT strings at `name` (each record's strings joined); empty when there are none."""
        answer = await self._answer(name, dns.rdatatype.TXT)
        if answer is None:
            return []
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]

    async def cname(self, name: str) -> str | None:
        """The CNAME target of `name` (no trailing dot, lowercased), or None when it has none."""
        answer = await self._answer(name, dns.rdatatype.CNAME)
        if answer is None:
            return None
        for rdata in answer:
            target: dns.name.Name = rdata.target
            return target.to_text(omit_final_dot=True).lower()
        return None
