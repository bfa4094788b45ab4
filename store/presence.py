"""A process's presence in PostgreSQL, which any other process can see at once.

The process holds a connection of its own with an advisory lock on a number drawn afresh each
time it connects: its `holder` id. What the process claims (an Idempotency-Key's request) is
tagged with that id. The lock goes with the connection's session: when the process dies, or
PostgreSQL restarts under it, the lock is gone, and every claim tagged with the old id is seen
as abandoned by the very next look (`gone_sql`) — no expiry to wait out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import psycopg

from store.db import dedicated_connection

log = logging.getLogger(__name__)

# The first key of the two-key advisory locks that mark presence ("afpr"); the second is the
# holder id. Other advisory locks of assocflow use the one-key form (store/db.py's migration
# lock), so they never meet these.
LOCK_SPACE = 0x61667072
# How soon to connect again after the presence connection was lost, unless a claim asks for it
# (`holder_within`); and the least time between two attempts, however many claims ask.
RECONNECT_AFTER = 0.5
RECONNECT_GAP = 0.1


def gone_sql(column: str) -> str:
    """An SQL condition: the holder id in `column` is no longer present in this database (its
    process died, or lost its connection). False where the column is NULL (no holder known)."""
    return (
        f"({column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f" AND classid = {LOCK_SPACE}::oid AND objid = {column}::oid AND objsubid = 2))"
    )


class Presence:
    """Keeps this process's presence lock while it runs; `holder` is its id, or None while the
    connection is being made again."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._task: asyncio.Task[None] | None = None
        self.holder: int | None = None
        self.attempts = 0  # connection attempts begun
        self._ended = 0  # ... and ended, made or failed
        self._attempt_ended = asyncio.Event()  # set as each attempt ends, then a new one
        self._wanted = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._hold(), name="presence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def holder_within(self, seconds: float) -> int | None:
        """This process's holder id. While the presence is being made again (PostgreSQL just
        restarted) a claim tagged with no holder could only be taken over once it expires: an
        attempt is made at once (not after the pause) and waited for, up to `seconds`. None if
        that attempt fails (PostgreSQL down, or refusing connections): the claim falls back on
        its expiry, as it would have."""
        if self.holder is None:
            mine = self.attempts + 1  # one that begins from now on: not one already under way
            self._wanted.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    while self.holder is None and self._ended < mine:
                        await self._attempt_ended.wait()
        return self.holder

    async def _hold(self) -> None:
        lost = False
        while True:
            self._wanted.clear()  # whoever asks from now on is answered by this attempt
            self.attempts += 1
            try:
                async with await dedicated_connection(self._database_url) as conn:
                    self.holder = await _lock_new_id(conn)
                    self._end_attempt()
                    if lost:
                        log.info("present again, as %s", self.holder)
                    lost = False
                    # Nothing is ever sent to this connection: waiting for a notification ends
                    # only when the connection does (the iteration raises).
                    async for _ in conn.notifies():
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as error:  # PostgreSQL restarted or is down: be present again
                if not lost:
                    log.warning("presence connection lost: %r", error)
                lost = True
            finally:
                self.holder = None
                if self._ended < self.attempts:  # the attempt itself failed
                    self._end_attempt()
            await self._pause()

    def _end_attempt(self) -> None:
        self._ended += 1
        ended, self._attempt_ended = self._attempt_ended, asyncio.Event()
        ended.set()

    async def _pause(self) -> None:
        """Until the next attempt: RECONNECT_AFTER, or RECONNECT_GAP once a claim asks."""
        await asyncio.sleep(RECONNECT_GAP)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wanted.wait(), RECONNECT_AFTER - RECONNECT_GAP)


async def _lock_new_id(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
    """A holder id nobody holds, locked by this session."""
    while True:
        holder = secrets.randbelow(2**31 - 1) + 1
        cur = await conn.execute(
            "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (LOCK_SPACE, holder)
        )
        row = await cur.fetchone()
        if row is not None and row[0]:
            return holder
