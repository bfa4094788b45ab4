"""Fixed-window rate limits kept in PostgreSQL, so every API process counts the same hits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from store.db import Connection, fetch_value


@dataclass(frozen=True)
class Usage:
    """A bucket's window after a hit: its limit, the hits counted in it (this one included), and
    the time until the next window opens."""

    limit: int
    hits: int
    resets_in: timedelta

    @property
    def exceeded(self) -> bool:
        return self.hits > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.hits)


async def hit(
    conn: Connection, bucket: str, limit: int, window: timedelta, now: datetime
) -> timedelta | None:
    """Count one hit; None if it is within `limit` per `window`, else the time until the next
    window opens."""
    usage = await take(conn, bucket, limit, window, now)
    return usage.resets_in if usage.exceeded else None


async def take(
    conn: Connection, bucket: str, limit: int, window: timedelta, now: datetime
) -> Usage:
    """Count one hit on `bucket` and say where its window stands."""
    seconds = int(window.total_seconds())
    start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)
    hits = await fetch_value(
        conn,
        int,
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES (%s, %s, 1)"
        " ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1"
        " RETURNING hits",
        (bucket, start),
    )
    assert hits is not None  # the statement inserts or updates the row, and returns it
    return Usage(limit=limit, hits=hits, resets_in=start + window - now)


async def purge(conn: Connection, now: datetime, keep: timedelta) -> int:
    cur = await conn.execute("DELETE FROM rate_limits WHERE window_start < %s", (now - keep,))
    return cur.rowcount
