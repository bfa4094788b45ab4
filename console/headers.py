"""Security headers, added to answers on their way out, whoever made them: the console's pages,
its static files, its error pages, the CSRF refusal (asgi-csrf answers itself) and the outage
page (api/outages.py).

The console's pages load nothing but their own scripts and styles, and none inline (htmx's
indicator styles are in console.css, see base.html's htmx-config): the Content-Security-Policy
forbids anything else, so injected markup can neither run a script nor send a form elsewhere,
and no other site may frame a page (clickjacking). Referrer-Policy: an invitation's token is in
its address (/console/invitation/<token>), which no link or fetch from that page may pass on.
nosniff on every answer: a JSON body is never run as a script, a text one never as HTML.
Strict-Transport-Security only where people reach the service by https (ASSOCFLOW_PUBLIC_URL):
said over plain http it would be ignored, or lock a local setup out.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# A year. No includeSubDomains: whether the domain's other hosts all serve https is not ours to say.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"

Headers = tuple[tuple[bytes, bytes], ...]


def headers(*, console: bool, https: bool) -> Headers:
    """What an answer gets: every one nosniff (and HSTS under https); the console's the rest."""
    said = [(b"x-content-type-options", b"nosniff")]
    if https:
        said.append((b"strict-transport-security", STRICT_TRANSPORT_SECURITY.encode()))
    if console:
        said.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        said.append((b"referrer-policy", b"no-referrer"))
    return tuple(said)


class SecurityHeaders:
    """Pure ASGI (no BaseHTTPMiddleware): an event stream passes through unbuffered. A header
    the answer set itself is left as it is."""

    def __init__(self, app: ASGIApp, *, console_prefix: str, https: bool) -> None:
        self.app = app
        self.prefix = console_prefix
        self.console = headers(console=True, https=https)
        self.elsewhere = headers(console=False, https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.console if self._is_console(scope["path"]) else self.elsewhere

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _merged(message.get("headers", ()), added)}
            await send(message)

        await self.app(scope, receive, with_headers)

    def _is_console(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


def _merged(present: Iterable[tuple[bytes, bytes]], added: Headers) -> list[tuple[bytes, bytes]]:
    merged = list(present)
    names = {name.lower() for name, _ in merged}
    merged.extend(header for header in added if header[0] not in names)
    return merged
