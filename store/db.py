"""Connection pool, versioned migrations, and the typed reads every store module makes."""

from __future__ import annotations

import logging
import re
import select
import time
from importlib import resources
from typing import Any, TypeAlias, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.abc import Params, QueryNoTemplate
from psycopg.pq import ConnStatus
from psycopg.rows import class_row, scalar_row
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

T = TypeVar("T")

# What store functions take: a connection with any row factory, since each of their queries
# sets its own (the pool's connections make tuples).
Connection: TypeAlias = AsyncConnection[object]

# Any constant works; it only has to be the same for every process that migrates this database.
MIGRATION_LOCK_KEY = 0x61737366  # "assf"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for each file in store/migrations, in version order."""
    found = []
    for entry in resources.files("store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


async def migrate(database_url: str) -> list[str]:
    """Apply the migrations not yet applied; safe to run again and from several processes at once.

    Returns the names of the migrations this call applied.
    """
    applied: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, name, sql in migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                log.info("applied migration %s", name)
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied


# What PostgreSQL not serving looks like to a caller: the server down or restarting, a connection
# cut under a statement, no connection to be had from the pool in time (PoolTimeout and
# TooManyRequests are OperationalErrors too), a deadlock or serialization failure to try again.
# Each edge answers it as "temporarily unavailable, try again" (api/outages.py), never as a bug.
UNAVAILABLE = psycopg.OperationalError


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means PostgreSQL cannot serve right now (see UNAVAILABLE)."""
    return isinstance(error, UNAVAILABLE)


# How long a caller waits for a connection before being told PostgreSQL is unavailable: an
# outage is answered in seconds, not after psycopg_pool's default 30 s.
CHECKOUT_TIMEOUT = 3.0
# A connection slot whose reconnection keeps failing gives up after this; the next caller who
# waits starts a fresh attempt at once. psycopg_pool's backoff (1 s, doubling, for 5 minutes by
# default) would let a slot sleep for half an outage's length again after PostgreSQL came back.
RECONNECT_GIVE_UP = 2.0
# libpq's own limit on opening a connection (seconds), against an address that does not answer.
CONNECT_TIMEOUT = 5


async def dedicated_connection(database_url: str) -> AsyncConnection[tuple[Any, ...]]:
    """A connection of its own, outside the pool, for a whole session (a LISTEN, a session
    lock): autocommit, with the pool's connect timeout."""
    return await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
    )


class Pool(AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]]):
    """A connection pool that never hands out a connection PostgreSQL has closed.

    A restart, a failover or an idle-session kill closes every connection the pool holds, and
    each would fail its next statement. Before handing a connection out, the pool looks at its
    socket (no round trip): if the server has said something to an idle connection, it was to
    close it, and the connection is replaced instead. psycopg_pool's own `check=` callback does
    the same with a round trip, but backs off between failed checks (1 s, 2 s, 4 s, ...;
    psycopg/psycopg#711), so the first request after a restart waited out the dead connections
    one by one — with five of them it timed out.
    """

    # The signature is psycopg_pool's.
    async def getconn(
        self,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AsyncConnection[tuple[Any, ...]]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            conn = await super().getconn(max(0.0, deadline - time.monotonic()))
            try:
                usable = await still_open(conn)
            except BaseException:  # cancelled while checking: the connection goes back
                await self.putconn(conn)
                raise
            if usable:
                return conn
            await self.putconn(conn)  # the pool sees it broken, closes it and connects anew


async def still_open(conn: AsyncConnection[Any]) -> bool:
    """Whether an idle connection can still serve.

    An idle connection is sent nothing unless it listens, so nothing waiting on its socket (one
    poll, no round trip) means the server has not closed it. Something waiting is most often the
    server's goodbye (AdminShutdown, an idle-session timeout) or the socket's end; a round trip
    tells for sure.
    """
    if conn.pgconn.status != ConnStatus.OK:
        return False
    waiting = select.poll()
    waiting.register(conn.pgconn.socket, select.POLLIN)
    if not waiting.poll(0):
        return True
    try:
        await conn.execute("")
    except psycopg.Error:
        return False
    return True


async def open_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    checkout_timeout: float = CHECKOUT_TIMEOUT,
) -> Pool:
    """A pool of autocommit connections, open once `min_size` are (or raising after 30 s)."""
    pool = Pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
        timeout=checkout_timeout,
        reconnect_timeout=RECONNECT_GIVE_UP,
        open=False,
        name="assocflow",
    )
    await pool.open(wait=True, timeout=30)
    return pool


async def fetch_one(
    conn: Connection, row: type[T], query: QueryNoTemplate, params: Params | None = None
) -> T | None:
    """The query's first row as a `row` (made from its columns by name), or None."""
    cur = conn.cursor(row_factory=class_row(row))
    await cur.execute(query, params)
    return await cur.fetchone()


async def fetch_all(
    conn: Connection, row: type[T], query: QueryNoTemplate, params: Params | None = None
) -> list[T]:
    """The query's rows as `row`s (made from their columns by name)."""
    cur = conn.cursor(row_factory=class_row(row))
    await cur.execute(query, params)
    return await cur.fetchall()


async def fetch_value(
    conn: Connection, kind: type[T], query: QueryNoTemplate, params: Params | None = None
) -> T | None:
    """The first column of the query's first row; None if there is no row or the value is NULL.

    Raises TypeError if the value is not a `kind`.
    """
    cur = conn.cursor(row_factory=scalar_row)
    await cur.execute(query, params)
    value = await cur.fetchone()
    if value is None or isinstance(value, kind):
        return value
    raise TypeError(f"expected {kind.__name__}, the query returned {type(value).__name__}")


async def fetch_values(
    conn: Connection, kind: type[T], query: QueryNoTemplate, params: Params | None = None
) -> list[T]:
    """The first column of each of the query's rows. Raises TypeError if one is not a `kind`."""
    cur = conn.cursor(row_factory=scalar_row)
    await cur.execute(query, params)
    values = await cur.fetchall()
    for value in values:
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, the query returned {type(value).__name__}")
    return values


async def ping(pool: AsyncConnectionPool, *, wait: float) -> None:
    """A round trip to PostgreSQL through the pool; raises if no connection comes within `wait`
    seconds."""
    async with pool.connection(timeout=wait) as conn:
        await conn.execute("SELECT 1")
