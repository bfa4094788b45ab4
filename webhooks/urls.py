"""Which webhook URLs assocflow will call: http(s) to public addresses only, unless
ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE is set (local runs and tests)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    pass


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeURL unless `url` is http(s) and every address its host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("The URL must be http:// or https:// with a host.")
    if parts.username or parts.password:
        raise UnsafeURL("The URL must not carry credentials.")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )  # fmt: skip
    except OSError as exc:
        raise UnsafeURL(f"The host {parts.hostname!r} does not resolve.") from exc
    for *_, sockaddr in infos:
        host = sockaddr[0]
        if not isinstance(host, str):  # not an IP address: nothing to call
            raise UnsafeURL(f"The host {parts.hostname!r} does not resolve to an IP address.")
        address = ipaddress.ip_address(host.split("%")[0])
        if _forbidden(address):
            raise UnsafeURL(
                f"The host {parts.hostname!r} resolves to {address}, a private, loopback or"
                " link-local address; webhooks go to public addresses only."
            )
