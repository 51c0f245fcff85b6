"""The DNS port of sender authentication. `herald_common.dns.DnspythonResolver` serves it.

Tests give that adapter a nameserver of their own (a fake zone served on 127.0.0.1), or give the checker a fake of
the port; nothing here needs the internet unless the deployment's resolver does.
"""

from __future__ import annotations

from typing import Protocol


class DnsResolver(Protocol):
    """Each lookup raises `herald_common.dns.DnsLookupFailed` when the question got no answer at all: the check it
    serves is then an error, never a pass or a fail."""

    async def txt(self, name: str) -> list[str]:
        """The TXT strings at `name` (each record's strings joined); empty when there are none."""
        ...

    async def cname(self, name: str) -> str | None:
        """The CNAME target of `name` (no trailing dot, lowercased), or None when it has none."""
        ...
