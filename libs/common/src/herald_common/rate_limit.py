"""Per-tenant request rate limits: a token bucket per tenant, per replica, answered with 429 and `Retry-After`.

The tenant is the one of a *verified* token (a forged `tenant_id` cannot spend another tenant's budget); a request
without a valid token is counted against its client address instead (the public unsubscribe routes, and attempts
that will get a 401 anyway). Health, readiness and metrics are never limited.

Per replica, in memory, on purpose: a shared bucket (DynamoDB, as the processor's send-rate buckets) would add a
conditional write to every API call, making the limiter itself the hottest item in the account. What this limit is
for is abuse — one tenant's script starving a replica — and each replica protects itself; the fleet-wide ceiling is
the per-replica rate times the replica count (an edge rule, e.g. a WAF rate-based rule, can cap the total).
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from herald_common.errors import HeraldError, error_body

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

    from herald_common.auth import Authenticator

TOO_MANY_REQUESTS = 429
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass
class _Bucket:
    tokens: float
    refilled_at: float


class RateLimiter:
    """Token buckets by key: `rate` requests per second sustained, bursts of up to `burst`."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0 when the request may go on, else the seconds until it could."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.refilled_at) * self.rate)
        bucket.refilled_at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket: drop those (and, if every key is busy,
        # the oldest), so memory stays bounded however many tenants or addresses call.
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.refilled_at >= full_after]:
            del self._buckets[key]
        while len(self._buckets) >= self._max_keys:
            del self._buckets[next(iter(self._buckets))]


class TenantRateLimit:
    """Pure ASGI middleware: 429 `TooManyRequests` with `Retry-After` once a tenant (or an anonymous client
    address) is over its rate. The authenticator is the app's (`app.state.authenticator`), read per request."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def _key(self, scope: Scope) -> tuple[str, str]:
        """(bucket key, who it is, in words)."""
        authorization = dict(scope["headers"]).get(b"authorization")
        if authorization is not None:
            authenticator: Authenticator = scope["app"].state.authenticator
            try:
                principal: Any = authenticator.authenticate(authorization.decode("latin-1"))
                if inspect.isawaitable(principal):  # the authenticator may verify asynchronously (JWKS fetches)
                    principal = await principal
                tenant = principal.tenant_id
            except (HeraldError, ValueError):
                tenant = None
            if tenant is not None:
                return f"tenant:{tenant}", f"Tenant '{tenant}'"
        client = scope.get("client")
        host = client[0] if client else "unknown"
        return f"client:{host}", "This client"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS or self.limiter.rate <= 0:
            await self.app(scope, receive, send)
            return
        key, who = await self._key(scope)
        wait = self.limiter.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        detail = (
            f"{who} is over its limit of {self.limiter.rate:g} requests per second "
            f"(bursts of {self.limiter.burst}); retry after {retry_after} s."
        )
        response = JSONResponse(
            error_body("TooManyRequests", detail),
            status_code=TOO_MANY_REQUESTS,
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
