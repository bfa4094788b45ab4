"""RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (the IETF httpapi draft's fields) on
every response to a request that met a rate limit, the 429 included (which also has
Retry-After). Where a request met several (a submit with a verification code), the one with
the fewest requests left is announced."""

from __future__ import annotations

from math import ceil

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from application.guards import rate_limits_met


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with rate_limits_met() as met:

            async def announcing_send(message: Message) -> None:
                if message["type"] == "http.response.start" and met:
                    usage = min(met, key=lambda u: (u.remaining, -u.resets_in.total_seconds()))
                    reset = max(1, ceil(usage.resets_in.total_seconds()))
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"ratelimit-limit", str(usage.limit).encode()),
                        (b"ratelimit-remaining", str(usage.remaining).encode()),
                        (b"ratelimit-reset", str(reset).encode()),
                    ]
                await send(message)

            await self.app(scope, receive, announcing_send)
