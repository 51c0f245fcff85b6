"""The SES port of sender authentication: is an identity verified, and what are its Easy DKIM tokens.

SES v1's GetIdentityVerificationAttributes and GetIdentityDkimAttributes: AWS, LocalStack and the embedded emulator
all answer them (v2's GetEmailIdentity on the emulator reports no DKIM tokens)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types_aiobotocore_ses import SESClient


class SenderIdentities(Protocol):
    async def verified(self, identities: list[str]) -> set[str]:
        """Those of `identities` (addresses or domains) SES has verified for sending."""
        ...

    async def dkim_tokens(self, domain: str) -> list[str]:
        """The domain's Easy DKIM tokens (each published as `<token>._domainkey.<domain>`); empty without DKIM."""
        ...


class SesIdentities:
    def __init__(self, ses: SESClient) -> None:
        self._ses = ses

    async def verified(self, identities: list[str]) -> set[str]:
        answer = await self._ses.get_identity_verification_attributes(Identities=identities)
        attributes = answer.get("VerificationAttributes", {})
        return {name for name, a in attributes.items() if a.get("VerificationStatus") == "Success"}

    async def dkim_tokens(self, domain: str) -> list[str]:
        answer = await self._ses.get_identity_dkim_attributes(Identities=[domain])
        found = answer.get("DkimAttributes", {}).get(domain)
        if found is None or not found.get("DkimEnabled", False):
            return []
        return list(found.get("DkimTokens") or [])
