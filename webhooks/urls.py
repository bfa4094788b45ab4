"""Which webhook URLs assocflow will call: http(s) to public addresses only, unless
ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE is set (local runs and tests).

The guard is `addresses`: it resolves a host once and returns the addresses it checked. The
delivery connects to one of those very addresses (webhooks/transport.py), so a resolver that
answers differently the second time (DNS rebinding) is never asked a second time.
`check_url` runs the same guard when an endpoint is registered.

What the owner of an endpoint reads (the registration problem, the delivery log) is one of the
sentences below and never names an address or an error of the network; operators find the
details in the log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text ("192.0.2.1", "2001:db8::1").
Resolver = Callable[[str, int], Awaitable[list[str]]]

# What the owner of an endpoint reads.
NOT_PUBLIC = "refused: the address is not public"
COULD_NOT_CONNECT = "could not connect"
DOES_NOT_RESOLVE = "refused: the host does not resolve"
NOT_HTTP = "refused: the URL must be http:// or https:// with a host"
CREDENTIALS = "refused: the URL must not carry credentials"
INVALID_HOST = "refused: the host is not a valid name or address"
NON_CANONICAL = "refused: write an IPv4 address as four decimal numbers (a.b.c.d)"

# Not public whatever `is_global` says of them: carrier-grade NAT (some clouds' metadata
# services), the IPv6 ranges that carry an IPv4 address (6to4, Teredo, NAT64, IPv4-mapped and
# IPv4-compatible) and so can reach a private one through a relay or the host's own stack.
_NOT_PUBLIC_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",
        "2002::/16",
        "2001::/32",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "::ffff:0:0/96",
        "::/96",
    )
)


class UnsafeURL(ValueError):
    """A webhook URL assocflow will not call. Its text is one of the sentences above: it may be
    shown to the owner of the endpoint as it is."""


class Unresolvable(OSError):
    """The host has no address (to the delivery, a connection that could not be made)."""


def is_public(address: IPAddress) -> bool:
    """True for an address on the public Internet, to which webhooks may go."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return False
    return (
        address.is_global
        and not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        )
        and not any(
            address in network
            for network in _NOT_PUBLIC_NETWORKS
            if network.version == address.version
        )
    )


def _refused(address: IPAddress, allow_private: bool) -> bool:
    if allow_private:  # local runs and tests: anything a connection can be made to
        return address.is_multicast or address.is_unspecified
    return not is_public(address)


@dataclass(frozen=True)
class Target:
    """Where a URL points: its scheme, its host as the HTTP client will send and verify it
    (lower case, IDNA-encoded, IPv6 without brackets) and its port."""

    scheme: str
    host: str
    port: int


_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


def parse_url(url: str) -> Target:
    """The URL's target, as httpx (which sends the request) reads it; raises UnsafeURL for
    anything but http(s) with a valid host and no credentials. Resolves nothing."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        parsed.host  # noqa: B018 - decodes the IDNA labels ("xn--…"): an invalid one raises
    except (httpx.InvalidURL, ValueError):  # an invalid IDNA name is a ValueError (IDNAError)
        raise UnsafeURL(INVALID_HOST) from None
    if parsed.scheme not in ("http", "https") or not host:
        raise UnsafeURL(NOT_HTTP)
    if parsed.userinfo:
        raise UnsafeURL(CREDENTIALS)
    if _literal(host) is None and not _HOST.fullmatch(host):
        raise UnsafeURL(INVALID_HOST)
    return Target(parsed.scheme, host, parsed.port or (443 if parsed.scheme == "https" else 80))


# A label that makes a host an IPv4 address, as browsers and inet_aton read it: decimal, octal
# (a leading 0) or hexadecimal (0x).
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


def _literal(host: str) -> IPAddress | None:
    """The address `host` is written as, or None for a name. A host whose last label is a
    number is an IPv4 address in any of inet_aton's forms (2130706433, 0177.0.0.1, 0x7f.1,
    127.1); one that is not a valid one raises UnsafeURL. Names never reach a resolver that
    would read them as addresses."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.split(".")
    if labels[-1] == "":  # one trailing dot
        labels.pop()
    if not labels or not _NUMBER.fullmatch(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMBER.fullmatch(label) for label in labels):
        raise UnsafeURL(INVALID_HOST)
    numbers = [_number(label) for label in labels]
    *parts, last = numbers
    if any(n > 255 for n in parts) or last >= 256 ** (5 - len(numbers)):
        raise UnsafeURL(INVALID_HOST)
    value = last
    for i, n in enumerate(parts):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        if not set(label) <= set("01234567"):
            raise UnsafeURL(INVALID_HOST)
        return int(label, 8)
    return int(label)


def _localhost(host: str) -> bool:
    """Names that are the machine itself whatever DNS says (RFC 6761)."""
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system's resolver, in its order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))


async def addresses(
    host: str, port: int, *, allow_private: bool, resolve: Resolver | None = None
) -> list[IPAddress]:
    """Resolve `host` once and check every address it has: all of them may be called, or
    UnsafeURL (one of them is not public) or Unresolvable (none at all). `host` is as
    `parse_url` returns it."""
    literal = _literal(host)
    if literal is not None:
        if _refused(literal, allow_private):
            log.warning("webhook host %r refused: %s is not public", host, literal)
            raise UnsafeURL(NOT_PUBLIC)
        if literal.version == 4 and host != str(literal):
            raise UnsafeURL(NON_CANONICAL)
        return [literal]
    if not allow_private and _localhost(host):
        log.warning("webhook host %r refused: a name of this machine", host)
        raise UnsafeURL(NOT_PUBLIC)
    try:
        answers = await (resolve or system_resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        log.info("webhook host %r does not resolve: %s", host, exc)
        raise Unresolvable(host) from exc
    found: list[IPAddress] = []
    for answer in answers:
        try:
            found.append(ipaddress.ip_address(answer.partition("%")[0]))
        except ValueError:  # not an address: nothing to call
            log.warning("webhook host %r resolves to %r, not an address", host, answer)
            raise UnsafeURL(NOT_PUBLIC) from None
    if not found:
        raise Unresolvable(host)
    for address in found:
        if _refused(address, allow_private):
            log.warning("webhook host %r refused: it resolves to %s, not public", host, address)
            raise UnsafeURL(NOT_PUBLIC)
    return found


async def check_url(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> None:
    """Raise UnsafeURL unless `url` is http(s) and every address its host resolves to is
    public (when private addresses are allowed, names are not resolved: only the URL and an
    address written in it are checked)."""
    target = parse_url(url)
    if allow_private and _literal(target.host) is None:
        return
    try:
        await addresses(target.host, target.port, allow_private=allow_private, resolve=resolve)
    except Unresolvable:
        raise UnsafeURL(DOES_NOT_RESOLVE) from None
