"""Per request: an id, a JSON access log line, and Prometheus counts by route template."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from application.admission import ARRIVED
from assocflow import logs, metrics

log = logs.get("assocflow.api.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,100}")
# Paths that carry a secret: an invitation link's token sets a person's password.
_SECRET_IN_PATH = re.compile(r"^(/console/invitation/)[^/]+")


def logged_path(path: str) -> str:
    """The path as the access log keeps it: an invitation's token masked."""
    return _SECRET_IN_PATH.sub(r"\1[redacted]", path)


def secrets_in(path: str) -> list[str]:
    """The secrets a path carries, for every log line of its request to mask."""
    found = _SECRET_IN_PATH.match(path)
    return [path[found.end(1) : found.end()]] if found else []


# Where the route a request was given is found once it has been answered. The console's CSRF
# middlewares hand a copy of the scope inward, so the router's `scope["route"]` never reaches the
# scope this middleware holds (every console page was counted as "unmatched"); a holder put in the
# scope first is shared by every copy, and RouteSeen, innermost, fills it.
SEEN = "assocflow.route_seen"


class RouteSeen:
    """The innermost middleware: after the router has run, it notes the route it chose where
    ObservabilityMiddleware reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            seen = scope.get(SEEN)
            if seen is not None and "route" in scope:
                seen["route"] = scope["route"]


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        seen: dict[str, Any] = {}
        scope[SEEN] = seen
        started = time.perf_counter()
        arrived = ARRIVED.set(started)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            with logs.redacting(*secrets_in(scope["path"])):
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(seen.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "request", method=method, route=route, path=logged_path(scope["path"]),
                status=status, duration_ms=round(elapsed * 1000, 1),
            )  # fmt: skip
            structlog.contextvars.clear_contextvars()
            ARRIVED.reset(arrived)
