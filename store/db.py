"""Connection pool, versioned migrations, and the typed reads every store module makes."""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import TypeAlias, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.abc import Params, QueryNoTemplate
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


async def open_pool(
    database_url: str, *, min_size: int = 1, max_size: int = 10
) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
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
