"""Sender authentication decisions: before a campaign is sent from a domain, SES must have verified it and the
domain must publish SPF, SES Easy DKIM (`<token>._domainkey` CNAMEs) and DMARC.

`HERALD_SENDER_AUTH`: `enforce` blocks a send that fails (400 `SenderNotAuthenticated`, the reasons named);
`warn` records and logs the result and lets the send go; `off` checks nothing (dev without DNS). Prod is `enforce`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_common.dns import DnsLookupFailed
from herald_common.errors import BadRequest

if TYPE_CHECKING:
    from herald_campaign.senders.dns import DnsResolver
    from herald_campaign.senders.identities import SenderIdentities

log = structlog.get_logger("herald.campaign.senders")

EASY_DKIM_SUFFIX = ".dkim.amazonses.com"


class SenderAuthMode(StrEnum):
    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


class SenderNotAuthenticated(BadRequest):
    code = "SenderNotAuthenticated"


@dataclass(frozen=True)
class Check:
    name: str  # identity | spf | dkim | dmarc
    status: str  # pass | fail | error (the lookup itself failed: nothing could be verified)
    detail: str


@dataclass(frozen=True)
class SenderAuthentication:
    domain: str
    mode: SenderAuthMode
    checks: tuple[Check, ...] = ()
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def status(self) -> str:
        if self.mode is SenderAuthMode.OFF:
            return "skipped"
        return "pass" if all(c.status == "pass" for c in self.checks) else "fail"

    @property
    def blocks_sending(self) -> bool:
        return self.mode is SenderAuthMode.ENFORCE and self.status == "fail"

    def problems(self) -> list[str]:
        return [c.detail for c in self.checks if c.status != "pass"]

    def as_item(self) -> dict[str, Any]:
        """As stored on the campaign (`senderAuthentication`) and shown in its view."""
        return {
            "domain": self.domain,
            "status": self.status,
            "mode": self.mode.value,
            "checkedAt": self.checked_at,
            "checks": {c.name: {"status": c.status, "detail": c.detail} for c in self.checks},
        }


def refusal(from_address: str, result: SenderAuthentication) -> SenderNotAuthenticated:
    """The 400 for a send that sender authentication blocks, naming every failed check."""
    return SenderNotAuthenticated(
        f"{from_address} cannot send yet: " + "; ".join(result.problems()) + ". See senderAuthentication."
    )


class SenderAuthenticator:
    def __init__(self, mode: SenderAuthMode, identities: SenderIdentities | None, dns: DnsResolver | None) -> None:
        self.mode = mode
        self._identities = identities
        self._dns = dns

    async def check(self, from_address: str) -> SenderAuthentication:
        """The four checks for the address's domain, run concurrently (nothing at all when the mode is off)."""
        domain = from_address.rpartition("@")[2].lower()
        if self.mode is SenderAuthMode.OFF or self._identities is None or self._dns is None:
            return SenderAuthentication(domain, SenderAuthMode.OFF)
        checks = await asyncio.gather(
            self._identity(from_address, domain), self._spf(domain), self._dkim(domain), self._dmarc(domain)
        )
        result = SenderAuthentication(domain, self.mode, tuple(checks))
        if result.status != "pass":
            log.warning("campaign.sender_not_authenticated", domain=domain, mode=self.mode.value,
                        problems=result.problems())  # fmt: skip
        return result

    async def gate(self, from_address: str) -> SenderAuthentication:
        """`check`, and in `enforce` mode a 400 naming every failed check."""
        result = await self.check(from_address)
        if result.blocks_sending:
            raise refusal(from_address, result)
        return result

    async def _identity(self, address: str, domain: str) -> Check:
        assert self._identities is not None
        try:
            verified = await self._identities.verified([address, domain])
        except (ClientError, BotoCoreError) as exc:
            return Check("identity", "error", f"SES could not be asked about {domain}: {type(exc).__name__}")
        if verified:
            return Check("identity", "pass", f"{sorted(verified)[0]} is a verified SES identity")
        return Check("identity", "fail", f"neither {address} nor {domain} is a verified SES identity")

    async def _spf(self, domain: str) -> Check:
        try:
            records = [r for r in await self._txt(domain) if r.lower().startswith("v=spf1")]
        except DnsLookupFailed as exc:
            return Check("spf", "error", f"the SPF lookup failed ({exc})")
        if not records:
            return Check("spf", "fail", f"{domain} publishes no SPF record (TXT v=spf1)")
        if len(records) > 1:
            return Check("spf", "fail", f"{domain} publishes {len(records)} SPF records; RFC 7208 allows one")
        return Check("spf", "pass", records[0])

    async def _dkim(self, domain: str) -> Check:
        assert self._identities is not None
        assert self._dns is not None
        try:
            tokens = await self._identities.dkim_tokens(domain)
        except (ClientError, BotoCoreError) as exc:
            return Check("dkim", "error", f"SES could not be asked for {domain}'s DKIM tokens: {type(exc).__name__}")
        if not tokens:
            return Check("dkim", "fail", f"SES Easy DKIM is not set up for {domain}")
        missing = []
        for token in tokens:
            name = f"{token}._domainkey.{domain}"
            try:
                target = await self._dns.cname(name)
            except DnsLookupFailed as exc:
                return Check("dkim", "error", f"the DKIM lookup failed ({exc})")
            if target != f"{token}{EASY_DKIM_SUFFIX}":
                missing.append(name)
        if missing:
            return Check("dkim", "fail", f"no CNAME to {EASY_DKIM_SUFFIX[1:]} at " + ", ".join(missing))
        return Check("dkim", "pass", f"{len(tokens)} Easy DKIM CNAMEs published")

    async def _dmarc(self, domain: str) -> Check:
        name = f"_dmarc.{domain}"
        try:
            records = [r for r in await self._txt(name) if r.replace(" ", "").lower().startswith("v=dmarc1")]
        except DnsLookupFailed as exc:
            return Check("dmarc", "error", f"the DMARC lookup failed ({exc})")
        if len(records) != 1:
            problem = "no DMARC record" if not records else f"{len(records)} DMARC records (one is allowed)"
            return Check("dmarc", "fail", f"{name} has {problem}")
        tags = dict(part.strip().partition("=")[::2] for part in records[0].split(";") if "=" in part)
        policy = tags.get("p", "").strip().lower()
        if policy not in ("none", "quarantine", "reject"):
            return Check("dmarc", "fail", f"the DMARC record at {name} has no valid p= policy")
        return Check("dmarc", "pass", records[0])

    async def _txt(self, name: str) -> list[str]:
        assert self._dns is not None
        return await self._dns.txt(name)
