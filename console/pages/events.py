"""Server-Sent Events for an open console page: its account's notifications as they are written
(`notification`, and `request-<id>` for the request one is about), and `ready` once the page is
listening, so that it refreshes what changed while it was connecting (and `ready` again when the
process listens anew after losing its connection to PostgreSQL). Pages fall back to polling
when the stream fails (console.js).

A stream whose session has ended (signed out elsewhere, idle, too old) says `signed-out` and
ends, with a `retry` of an hour: the page goes to sign in (console.js closes its stream first),
and a client that stays does not come back before then, instead of reconnecting at once, again
and again, to hear the same.

A stream only looks at its session (`touch=False`), at connect and at each check: an open tab is
not a person using the console, and a tab left open must not keep its session from going idle
(ASSOCFLOW_CONSOLE_IDLE_TIMEOUT).

Each open stream holds a connection, a queue and its session checks: there are at most
STREAMS_PER_SESSION of one session and STREAMS_PER_ADDRESS from one client address open at once,
counted in each API process (N processes allow N times as many). One more is refused with 429,
and its page polls instead until a place is free (the sse extension keeps trying to connect)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from application import sessions
from application.live import RESUMED, Hub, LiveEvent
from application.principal import READ_REQUESTS, Principal
from application.services import Services
from console.auth import Svc, session_token
from console.routing import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)

# How long a stream waits for the process's LISTEN before saying `ready` anyway.
READY_WITHIN = 5.0
# How often a quiet stream checks that its session still holds (signed out, timed out).
SESSION_CHECK_EVERY = 60.0
PING_EVERY = 15
# Open streams at once, in one API process: a person's tabs of one session; the people behind
# one address (an office's NAT).
STREAMS_PER_SESSION = 8
STREAMS_PER_ADDRESS = 32
# How long a browser that heard `signed-out` waits before connecting again (milliseconds).
SIGNED_OUT_RETRY_MS = 3_600_000
# What a refused stream is told to wait (seconds); the sse extension backs off on its own.
REFUSED_RETRY_AFTER = 60

Message = dict[str, str | int]

SIGNED_OUT: Message = {
    "event": "signed-out",
    "data": "/console/sign-in?ended=1",
    "retry": SIGNED_OUT_RETRY_MS,
}
READY: Message = {"event": "ready", "data": "listening"}


@router.get("/console/events")
async def events(request: Request, svc: Svc) -> Response:
    token = session_token(request)
    session = await sessions.session(svc, token, touch=False) if token else None
    if session is None:
        return EventSourceResponse(_signed_out(), ping=PING_EVERY)
    places = _places(token, request)
    open_streams = _open_streams(request)
    if not open_streams.take(places):
        return _refused()
    stream = _stream(request.app.state.live, svc, token, session.principal)
    return _Counted(stream, leave=lambda: open_streams.give_back(places))


async def _stream(hub: Hub, svc: Services, token: str, who: Principal) -> AsyncIterator[Message]:
    async with hub.subscribe(who) as queue:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.listening.wait(), READY_WITHIN)
        yield READY
        async for message in _heard(queue, svc, token, who):
            yield message
    yield SIGNED_OUT


async def _heard(
    queue: asyncio.Queue[LiveEvent], svc: Services, token: str, who: Principal
) -> AsyncIterator[Message]:
    """The account's events, until a check finds the session over. Checked every
    SESSION_CHECK_EVERY however busy the account is: events never put the check off."""
    check_at = time.monotonic() + SESSION_CHECK_EVERY
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), max(0.0, check_at - time.monotonic()))
        except TimeoutError:
            if await sessions.session(svc, token, touch=False) is None:
                return
            check_at = time.monotonic() + SESSION_CHECK_EVERY
            continue
        for message in _messages(event, who):
            yield message


async def _signed_out() -> AsyncIterator[Message]:
    yield SIGNED_OUT


def _messages(event: LiveEvent, who: Principal) -> list[Message]:
    """What the person hears of an event: that the message center has news only if they may
    read it, and that a request changed only if they may read requests."""
    if event == RESUMED:  # listening again after a gap: refresh, as when the page connected
        return [READY]
    said: list[Message] = []
    if who.reads_notifications:
        said.append({"event": "notification", "data": event.event_type})
    if event.request_id is not None and any(who.holds(p) for p in READ_REQUESTS):
        said.append({"event": f"request-{event.request_id}", "data": event.event_type})
    return said


# --- how many are open -----------------------------------------------------------------------

Place = tuple[str, str]


class OpenStreams:
    """The streams open in this API process, by session and by client address."""

    def __init__(self) -> None:
        self._open: Counter[Place] = Counter()

    def take(self, places: dict[Place, int]) -> bool:
        """A place under each cap (place: cap), or none when one of them is full. Nothing awaits
        between the count and the taking: two streams arriving together cannot both pass."""
        if any(self._open[place] >= cap for place, cap in places.items()):
            return False
        self._open.update(places.keys())
        return True

    def give_back(self, places: dict[Place, int]) -> None:
        self._open.subtract(places.keys())
        for place in places:
            if self._open[place] <= 0:
                del self._open[place]


def _open_streams(request: Request) -> OpenStreams:
    """The app's count (one per app, made when the first stream comes)."""
    state = request.app.state
    if not hasattr(state, "open_streams"):
        state.open_streams = OpenStreams()
    found: OpenStreams = state.open_streams
    return found


def _places(token: str, request: Request) -> dict[Place, int]:
    """Where a stream counts, with each cap: its session (by the token's hash: the count keeps
    no token) and its client's address."""
    session = hashlib.sha256(token.encode()).hexdigest()
    address = request.client.host if request.client else "unknown"
    return {("session", session): STREAMS_PER_SESSION, ("address", address): STREAMS_PER_ADDRESS}


def _refused() -> Response:
    return PlainTextResponse(
        "Too many open event streams: the page looks for changes from time to time instead.",
        status_code=429,
        headers={"Retry-After": str(REFUSED_RETRY_AFTER), "Cache-Control": "no-store"},
    )


class _Counted(EventSourceResponse):
    """A stream that gives its place back when it ends, however it ends (the page went, the
    session ended, the server stops)."""

    def __init__(self, messages: AsyncIterator[Message], *, leave: Callable[[], None]) -> None:
        super().__init__(messages, ping=PING_EVERY)
        self._leave = leave

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._leave()
