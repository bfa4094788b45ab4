"""The HTTP transport of webhook deliveries: it connects to the address the URL guard checked.

httpx leaves the resolution of a host to its network backend (httpcore's `connect_tcp`), and so
does this transport, with a backend of its own: `connect_tcp(host, port)` resolves the host once
(webhooks/urls.py `addresses`), refuses it unless every address is allowed, and opens the TCP
connection to one of those checked addresses, never to the name. Everything above the socket
is httpx's and httpcore's as usual, keyed on the URL's host: the connection pool (a pooled
connection was made to a checked address), the Host header, and TLS, whose SNI and certificate
verification use the host name from the URL (httpcore passes it as `server_hostname`), with the
default trust store unless `verify` says otherwise.

Rewriting the URL to the address instead (with the `sni_hostname` extension) would key the
connection pool on the address, letting a connection verified for one name carry requests for
another; pinning below the pool does not.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable

import httpcore
import httpx
from httpcore._backends.auto import AutoBackend  # httpx's own default backend

from webhooks.urls import Resolver, addresses

log = logging.getLogger(__name__)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host once, checks every address, and connects to a checked one."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver | None = None,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._backend = backend or AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                checked = await addresses(
                    host, port, allow_private=self._allow_private, resolve=self._resolve
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        except OSError as exc:  # Unresolvable
            raise httpcore.ConnectError(f"{host!r} does not resolve") from exc
        failure: Exception | None = None
        for address in checked:  # each in the resolver's order, every one of them checked
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                log.info(
                    "webhook host %r: no connection to %s port %s: %s", host, address, port, exc
                )
                failure = exc
        assert failure is not None  # `addresses` returns at least one
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a `PinnedBackend`: no proxy (the environment's included), HTTP/1.1,
    TLS verified against `verify` (the default trust store unless given a context)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        if verify is False:
            raise ValueError("webhook deliveries always verify TLS")
        super().__init__(verify=verify, trust_env=False, limits=limits)
        # httpx builds its connection pool here and takes no network backend: this pool is
        # built as httpx builds it (no proxy, no retries), around the pinning backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(
                allow_private=allow_private, resolve=resolve, backend=backend
            ),
        )
