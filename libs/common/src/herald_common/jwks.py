"""The identity provider's signing keys (RS256), fetched from `HERALD_JWKS_URL`, cached, refreshed on an unknown `kid`.

A token naming a `kid` the cache does not hold triggers one refresh (key rotation), but at most one such refresh per
`min_refresh_seconds`, so a flood of tokens with made-up `kid`s cannot turn every request into a fetch. Only RSA
signing keys are kept: a symmetric (`oct`) key published by mistake can never verify a token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger("herald.auth.jwks")


class JwksUnavailable(Exception):
    """No key set could be fetched and none is cached."""


class UnknownSigningKey(Exception):
    """The token's `kid` is not in the key set, even after a refresh."""


def _signing_keys(document: Any) -> dict[str, jwt.PyJWK]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS document is an object with a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if not isinstance(entry.get("kid"), str) or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
        except jwt.PyJWKError:
            log.warning("auth.jwks_key_skipped", kid=entry.get("kid"))
    return keys


class JwksKeySet:
    """RS256 verification keys by `kid`. One per process; safe to share between concurrent requests."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._timeout = timeout_seconds
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._last_attempt = float("-inf")
        self._last_failed = False
        self._last_unknown_refresh = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the key set was fetched (observability, tests)

    async def key_for(self, kid: str) -> jwt.PyJWK:
        """The key for `kid`; raises UnknownSigningKey or JwksUnavailable."""
        if (key := self._fresh_key(kid)) is not None:
            return key
        async with self._lock:
            if (key := self._fresh_key(kid)) is not None:  # another request refreshed meanwhile
                return key
            now = time.monotonic()
            backing_off = self._last_failed and now - self._last_attempt < self._min_refresh_seconds
            stale = now - self._fetched_at >= self._cache_seconds and not backing_off
            unknown = kid not in self._keys and now - self._last_unknown_refresh >= self._min_refresh_seconds
            if stale or unknown:
                if unknown and not stale:
                    self._last_unknown_refresh = now
                await self._refresh()
            if kid in self._keys:  # possibly a stale key, when the provider cannot be reached
                return self._keys[kid]
        if not self._keys:
            raise JwksUnavailable("no signing keys are available")
        raise UnknownSigningKey(kid)

    def _fresh_key(self, kid: str) -> jwt.PyJWK | None:
        if time.monotonic() - self._fetched_at < self._cache_seconds:
            return self._keys.get(kid)
        return None

    async def _refresh(self) -> None:
        self.fetches += 1
        self._last_attempt = time.monotonic()
        self._last_failed = True
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                response = await client.get(self._url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = _signing_keys(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # Keep serving the keys we have (an IdP hiccup must not log everybody out); retry on the next miss.
            log.warning("auth.jwks_fetch_failed", url=self._url, error=repr(exc)[:300], cached=len(self._keys))
            return
        self._keys = keys
        self._fetched_at = time.monotonic()
        self._last_failed = False
        log.info("auth.jwks_refreshed", keys=len(keys))
