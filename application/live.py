"""Live updates for the console: when a notification is written for an account (the counterpart
decided, the deadline passed, a reminder), the people of that account with a page open hear of
it at once.

One LISTEN connection per process feeds every open page of that process (not one connection per
page); each page's subscription hears only its own account's notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from application.principal import Principal
from assocflow import logs
from store import listen

log = logs.get(__name__)

# How long the hub waits before listening again after its connection failed.
RECONNECT_AFTER = 2.0
# What a slow page may fall behind by before its oldest events are dropped (it polls anyway).
QUEUE_SIZE = 100


@dataclass(frozen=True)
class LiveEvent:
    """Something changed for the account: a notification of `event_type`, about a request."""

    event_type: str
    request_id: UUID | None


# Told to every open page when the process listens again after losing its connection (PostgreSQL
# restarted, say): what was written meanwhile was not heard, so pages refresh what they show.
RESUMED = LiveEvent("resumed", None)


class Hub:
    """Fans the process's LISTEN connection out to the open pages, by account."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._queues: dict[tuple[str, UUID], set[asyncio.Queue[LiveEvent]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, who: Principal) -> AsyncIterator[asyncio.Queue[LiveEvent]]:
        """A queue of the caller's account's events from now on, while the block runs. The
        process's LISTEN is started if it is not yet: await `listening` to know it is in place
        (what was written before it is not heard; a page refreshes once when it connects)."""
        account = who.account
        key = (account.kind, account.id)
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues.setdefault(key, set()).add(queue)
        self._start()
        try:
            yield queue
        finally:
            subscribers = self._queues.get(key, set())
            subscribers.discard(queue)
            if not subscribers:
                self._queues.pop(key, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="console-live-events")

    async def _listen(self) -> None:
        lost_once = False
        while True:
            try:
                async with listen.listening(self._database_url) as written_ones:
                    self.listening.set()
                    if lost_once:
                        self._resume()
                    async for written in written_ones:
                        self._publish(written)
            except asyncio.CancelledError:
                raise
            except Exception:  # pages poll meanwhile; listen again shortly
                log.warning("live events lost their LISTEN connection", exc_info=True)
            self.listening.clear()
            lost_once = True
            await asyncio.sleep(RECONNECT_AFTER)

    def _publish(self, written: listen.Written) -> None:
        event = LiveEvent(written.event_type, written.request_id)
        for queue in self._queues.get((written.recipient_kind, written.recipient_id), ()):
            _put(queue, event)

    def _resume(self) -> None:
        for queues in self._queues.values():
            for queue in queues:
                _put(queue, RESUMED)


def _put(queue: asyncio.Queue[LiveEvent], event: LiveEvent) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
