"""Server-Sent Events for an open console page: its account's notifications as they are written
(`notification`, and `request-<id>` for the request one is about), and `ready` once the page is
listening, so that it refreshes what changed while it was connecting (and `ready` again when the
process listens anew after losing its connection to PostgreSQL). Pages fall back to polling
when the stream fails (console.js).

A stream whose session has ended (signed out elsewhere, idle, too old) says `signed-out` and stays
open until the page has gone to sign in: a stream that closed or answered with a redirect would
only make the browser reconnect, and the page would learn nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse

from application import sessions
from application.live import RESUMED, Hub, LiveEvent
from console.auth import SESSION_COOKIE, Svc
from console.routing import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)

# How long a stream waits for the process's LISTEN before saying `ready` anyway.
READY_WITHIN = 5.0
# How often a quiet stream checks that its session still holds (signed out, timed out).
SESSION_CHECK_EVERY = 60.0
PING_EVERY = 15


SIGNED_OUT = {"event": "signed-out", "data": "/console/sign-in?ended=1"}
READY = {"event": "ready", "data": "listening"}


@router.get("/console/events")
async def events(request: Request, svc: Svc) -> Response:
    hub: Hub = request.app.state.live
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await sessions.session(svc, token) if token else None
    if session is None:
        return _stream(_signed_out())
    who = session.principal

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with hub.subscribe(who) as queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.listening.wait(), READY_WITHIN)
            yield READY
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), SESSION_CHECK_EVERY)
                except TimeoutError:
                    if await sessions.session(svc, token) is None:
                        break
                    continue
                for message in _messages(event):
                    yield message
        async for message in _signed_out():
            yield message

    return _stream(stream())


def _stream(messages: AsyncIterator[dict[str, str]]) -> Response:
    return EventSourceResponse(messages, ping=PING_EVERY, headers={"Cache-Control": "no-store"})


async def _signed_out() -> AsyncIterator[dict[str, str]]:
    yield SIGNED_OUT
    await asyncio.Event().wait()  # until the page goes (the client disconnects) or we stop


def _messages(event: LiveEvent) -> list[dict[str, str]]:
    if event == RESUMED:  # listening again after a gap: refresh, as when the page connected
        return [READY]
    said = [{"event": "notification", "data": event.event_type}]
    if event.request_id is not None:
        said.append({"event": f"request-{event.request_id}", "data": event.event_type})
    return said
