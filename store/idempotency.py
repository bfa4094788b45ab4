"""Idempotency keys: the first response to a (caller, key) is stored and replayed to retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from psycopg.types.json import Jsonb

from store import presence
from store.db import Connection, fetch_one
from store.rows import IdempotencyKey

Outcome = Literal["new", "replay", "mismatch", "in_progress"]


@dataclass(frozen=True)
class Stored:
    status_code: int
    headers: dict[str, str]
    body: bytes


async def claim(
    conn: Connection,
    caller: str,
    key: str,
    route: str,
    body_hash: bytes,
    stale_after: timedelta,
    ttl: timedelta,
    holder: int | None = None,
) -> tuple[Outcome, Stored | None]:
    """Claim the key for this request, run by the process whose presence id is `holder`, or say
    why not.

    "new": this request runs (a first use, a key used more than `ttl` ago, or a retry taking over
    from a process that died while it ran: its presence is gone, or it has not renewed the claim
    for `stale_after`); "replay": the stored response; "mismatch": the key was used for another
    request; "in_progress": another request with it is still running.

    A key used more than `ttl` ago is expired whether or not `purge` has removed it yet: it is
    claimed afresh, for whatever route and body come now, as a key never used before.
    """
    cur = await conn.execute(
        "INSERT INTO idempotency_keys (caller, key, route, body_hash, holder)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (caller, key) DO UPDATE SET route = EXCLUDED.route,"
        " body_hash = EXCLUDED.body_hash, started_at = now(), completed_at = NULL,"
        " status_code = NULL, headers = NULL, body = NULL, holder = EXCLUDED.holder"
        " WHERE idempotency_keys.started_at < now() - %s"
        " RETURNING caller",
        (caller, key, route, body_hash, holder, ttl),
    )
    if await cur.fetchone() is not None:
        return "new", None
    row = await fetch_one(
        conn,
        IdempotencyKey,
        "SELECT route, body_hash, started_at, completed_at, status_code, headers, body,"
        f" (started_at < now() - %s OR {presence.gone_sql('holder')}) AS stale"
        " FROM idempotency_keys WHERE caller = %s AND key = %s",
        (stale_after, caller, key),
    )
    if row is None:  # released between the two statements: try once more
        return await claim(conn, caller, key, route, body_hash, stale_after, ttl, holder)
    if row.route != route or row.body_hash != body_hash:
        return "mismatch", None
    if row.completed_at is not None:
        # complete() sets the response with completed_at.
        assert row.status_code is not None and row.headers is not None and row.body is not None
        return "replay", Stored(row.status_code, row.headers, row.body)
    if row.stale:
        cur = await conn.execute(
            "UPDATE idempotency_keys SET started_at = now(), holder = %s"
            " WHERE caller = %s AND key = %s AND completed_at IS NULL AND started_at = %s"
            " RETURNING caller",
            (holder, caller, key, row.started_at),
        )
        if await cur.fetchone() is not None:
            return "new", None
    return "in_progress", None


async def complete(conn: Connection, caller: str, key: str, response: Stored) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET completed_at = now(), status_code = %s, headers = %s, body = %s"
        " WHERE caller = %s AND key = %s",
        (response.status_code, Jsonb(response.headers), response.body, caller, key),
    )


async def renew(conn: Connection, caller: str, key: str) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET started_at = now() WHERE caller = %s AND key = %s"
        " AND completed_at IS NULL",
        (caller, key),
    )


async def release(conn: Connection, caller: str, key: str) -> None:
    """Forget a claim whose request failed in a way a retry may fix."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE caller = %s AND key = %s AND completed_at IS NULL",
        (caller, key),
    )


async def purge(conn: Connection, older_than: timedelta) -> int:
    """Remove the keys `claim` treats as expired (used more than `older_than` ago)."""
    cur = await conn.execute(
        "DELETE FROM idempotency_keys WHERE started_at < now() - %s", (older_than,)
    )
    return cur.rowcount
