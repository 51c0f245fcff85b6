"""Which URLs a webhook may call (no SSRF): in prod only https, to a host whose every address is public; in dev also
http and loopback (a receiver on the developer's machine). Checked when the endpoint is created and again before
every attempt, so a name that later resolves to a private address (DNS rebinding) is refused then."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from herald_common.errors import Unprocessable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class WebhookUrlRefused(Unprocessable):
    code = "WebhookUrlRefused"


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_url(
    url: str, *, allow_loopback: bool, resolver: Callable[[str, int], Awaitable[list[str]]] = resolve
) -> None:
    """Raise `WebhookUrlRefused` unless `url` may be called (module docstring)."""
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if allow_loopback else ("https",)
    if parts.scheme not in allowed_schemes:
        raise WebhookUrlRefused(f"A webhook URL must use {' or '.join(allowed_schemes)}.")
    if not parts.hostname or parts.username or parts.password:
        raise WebhookUrlRefused("A webhook URL needs a host and no credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await resolver(parts.hostname, port)
    except (OSError, ValueError) as exc:
        raise WebhookUrlRefused(f"The webhook host {parts.hostname} does not resolve.") from exc
    if not addresses:
        raise WebhookUrlRefused(f"The webhook host {parts.hostname} does not resolve.")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_global or (allow_loopback and ip.is_loopback):
            continue
        raise WebhookUrlRefused(f"The webhook host {parts.hostname} resolves to a non-public address ({ip}).")
