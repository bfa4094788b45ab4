"""Idempotency-Key for the POST routes that create or decide something.

A retry with the same key and body gets the first response again (with `Idempotent-Replayed:
true`); the same key with another body is 422 `idempotency_key_reused`. Keys belong to the caller
and are kept `ASSOCFLOW_IDEMPOTENCY_TTL` (24 h); after that a key is new again, whatever body
comes with it. Concurrent retries wait for the first to finish; a retry whose first attempt's
API process died (or lost PostgreSQL under it) runs at once.

An answer that means "not now" rather than "no" is not kept: 429 (`rate_limited`,
`verification_locked`) and 500 or more (`temporarily_unavailable`, an unexpected error). The key
is released, so a retry once the limit or the outage has passed runs again (and, like a key never
used, may come with another body); routes that start a workflow name it after the key, so such a
retry joins the first attempt's workflow.

Routes whose response shows a secret (`POST /v1/admin/tokens`, webhook endpoints) take no key:
keeping their response would keep the secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.openapi import OPERATIONS
from api.problems import language_of, problem_response
from application.identity import identify
from domain.problems import ProblemCode
from domain.text import Text
from store import idempotency
from store.presence import Presence

log = logging.getLogger(__name__)


def idempotent_routes(app: Any) -> list[re.Pattern[str]]:
    """The POST routes whose operation the OpenAPI table marks idempotent (api/openapi.py,
    `Operation.idempotent`): the document and this middleware read the one table."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        post = operations.get("post")
        if post is not None and OPERATIONS[post["operationId"]].idempotent:
            parts = re.split(r"(\{[^}]+\})", path)
            found.append(
                re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))
            )
    return found


_KEY = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII
KEPT_HEADERS = ("content-type", "location", "retry-after", "cache-control")
# A claim is tagged with its process's presence (store/presence.py): once that process is gone
# (it died, or PostgreSQL restarted under it), a retry takes the claim over at once. As a backstop
# (a claim made while the process had no presence), the process renews its claim every HEARTBEAT,
# and a claim not renewed for STALE_AFTER may be taken over too.
HEARTBEAT = 5.0
STALE_AFTER = timedelta(seconds=15)
# At most how long a claim waits for its process's presence to be made again (just after a
# PostgreSQL restart): one connection attempt, in life a few milliseconds.
CLAIM_WAITS_FOR_PRESENCE = 2.0
WAIT_FOR_FIRST = 40.0  # longer than the API waits on a workflow


def is_kept(status_code: int) -> bool:
    """Whether a response is stored for its key: not a 429 (a rate limit or a verification lock,
    which time lifts) nor a 5xx (Temporal not answering in time, an unexpected error)."""
    return status_code != 429 and status_code < 500


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[re.Pattern[str]] | None = None

    def _applies(self, scope: Scope) -> bool:
        if self._routes is None:  # the routes are all in place by the first request
            self._routes = idempotent_routes(scope["app"])
        return any(route.fullmatch(scope["path"]) for route in self._routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        if key is None or scope["method"] != "POST" or not self._applies(scope):
            await self.app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):
            await _send(
                scope,
                send,
                _problem(
                    scope,
                    422,
                    ProblemCode.VALIDATION_ERROR,
                    Text("Idempotency-Key must be 1 to 200 visible ASCII characters."),
                ),
            )
            return
        state = scope["app"].state
        body = await _read_body(receive)  # capped by the body-limit middleware around this one
        caller = await _caller(scope, headers)
        if caller is None:  # let the route answer 401
            await self.app(scope, _replay_body(body), send)
            return
        route = f"POST {scope['path']}"
        ttl: timedelta = state.settings.idempotency_ttl
        await self._once(scope, send, state.pool, caller, key, route, body, ttl)

    async def _once(
        self,
        scope: Scope,
        send: Send,
        pool: AsyncConnectionPool,
        caller: str,
        key: str,
        route: str,
        body: bytes,
        ttl: timedelta,
    ) -> None:
        presence: Presence = scope["app"].state.presence
        body_hash = _canonical_hash(body)
        deadline = time.monotonic() + WAIT_FOR_FIRST
        await presence.holder_within(CLAIM_WAITS_FOR_PRESENCE)
        while True:
            async with pool.connection() as conn:
                outcome, stored = await idempotency.claim(
                    conn, caller, key, route, body_hash, STALE_AFTER, ttl, presence.holder
                )
            if outcome == "new":
                await self._run_and_keep(scope, send, pool, caller, key, body)
                return
            if outcome == "replay":
                assert stored is not None
                await _send_stored(send, stored, replayed=True)
                return
            if outcome == "mismatch":
                await _send(scope, send, _problem(
                    scope, 422, ProblemCode.IDEMPOTENCY_KEY_REUSED,
                    Text("This Idempotency-Key was used for a different request; use a new key."),
                ))  # fmt: skip
                return
            if time.monotonic() > deadline:
                await _send(scope, send, _problem(
                    scope, 409, ProblemCode.IDEMPOTENCY_KEY_IN_USE,
                    Text("A request with this Idempotency-Key is still running; retry shortly."),
                    headers={"Retry-After": "1"},
                ))  # fmt: skip
                return
            await asyncio.sleep(0.05)

    async def _run_and_keep(
        self,
        scope: Scope,
        send: Send,
        pool: AsyncConnectionPool,
        caller: str,
        key: str,
        body: bytes,
    ) -> None:
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        renewing = asyncio.create_task(_renew(pool, caller, key))
        try:
            await self.app(scope, _replay_body(body), capture)
        except BaseException:
            async with pool.connection() as conn:
                await idempotency.release(conn, caller, key)
            raise
        finally:
            renewing.cancel()
        start = next(m for m in captured if m["type"] == "http.response.start")
        content = b"".join(
            m.get("body", b"") for m in captured if m["type"] == "http.response.body"
        )
        stored = idempotency.Stored(
            status_code=start["status"],
            headers={
                name.decode().lower(): value.decode()
                for name, value in start.get("headers", [])
                if name.decode().lower() in KEPT_HEADERS
            },
            body=content,
        )
        try:
            async with pool.connection() as conn:
                if is_kept(stored.status_code):
                    await idempotency.complete(conn, caller, key, stored)
                else:
                    await idempotency.release(conn, caller, key)
        except Exception:  # the work is done; a lost key only means a retry runs again
            log.exception("could not keep the response for an Idempotency-Key")
        for message in captured:
            await send(message)


async def _renew(pool: AsyncConnectionPool, caller: str, key: str) -> None:
    """Keep the claim fresh while its request runs (a decision may wait on a workflow)."""
    while True:
        await asyncio.sleep(HEARTBEAT)
        try:
            async with pool.connection() as conn:
                await idempotency.renew(conn, caller, key)
        except Exception:  # a missed renewal only lets a retry take over sooner
            log.warning("could not renew an Idempotency-Key claim", exc_info=True)


async def _caller(scope: Scope, headers: Headers) -> str | None:
    """The caller's ref; the principal is left in the request's state for the route to reuse."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    state = scope["app"].state
    async with state.pool.connection() as conn:
        who = await identify(state.settings, conn, token.strip())
    if who is None:
        return None
    scope.setdefault("state", {})["principal"] = who
    return who.ref


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _canonical_hash(body: bytes) -> bytes:
    """The same JSON in another spacing or key order is the same body."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).digest()


def _problem(
    scope: Scope,
    status: int,
    code: ProblemCode,
    detail: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem in the caller's language."""
    return problem_response(status, code, detail, headers=headers, language=language_of(scope))


async def _send(scope: Scope, send: Send, response: Response) -> None:
    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    await response(scope, no_body, send)


async def _send_stored(send: Send, stored: idempotency.Stored, *, replayed: bool) -> None:
    headers = [(k.encode(), v.encode()) for k, v in stored.headers.items()]
    headers.append((b"content-length", str(len(stored.body)).encode()))
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
