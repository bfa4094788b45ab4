"""Runs of consecutive failures: a person's, one per kind (verification codes in mfa_failures,
codes at console sign-in in sign_in_failures), and the console's password throttles, keyed by a
hash of what they count (sign_in_throttles). What a failure does to a run is domain/lockout.py's
rule."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from domain.lockout import NO_FAILURES, FailureRun
from store.db import Connection, fetch_one

Kind = Literal["verification", "sign_in"]
_TABLE: dict[Kind, str] = {"verification": "mfa_failures", "sign_in": "sign_in_failures"}


async def read(conn: Connection, kind: Kind, person_id: UUID, *, lock: bool = False) -> FailureRun:
    """The person's run; with `lock`, held until the transaction ends."""
    table = _TABLE[kind]
    await conn.execute(
        f"INSERT INTO {table} (person_id) VALUES (%s) ON CONFLICT DO NOTHING", (person_id,)
    )
    row = await fetch_one(
        conn,
        FailureRun,
        f"SELECT failed_attempts, locked_until FROM {table} WHERE person_id = %s"
        f"{' FOR UPDATE' if lock else ''}",
        (person_id,),
    )
    assert row is not None  # inserted just above if it was missing
    return row


async def write(conn: Connection, kind: Kind, person_id: UUID, run: FailureRun) -> None:
    await conn.execute(
        f"UPDATE {_TABLE[kind]} SET failed_attempts = %s, locked_until = %s WHERE person_id = %s",
        (run.failed_attempts, run.locked_until, person_id),
    )


# --- password throttles ----------------------------------------------------------------------


async def read_throttle(conn: Connection, key: bytes, *, lock: bool = False) -> FailureRun:
    """The run counted under `key` (none yet: no failures); with `lock`, held until the
    transaction ends (a missing row is then made first, so that there is one to hold)."""
    if lock:
        await conn.execute(
            "INSERT INTO sign_in_throttles (key, updated_at) VALUES (%s, now())"
            " ON CONFLICT DO NOTHING",
            (key,),
        )
    row = await fetch_one(
        conn,
        FailureRun,
        "SELECT failed_attempts, locked_until FROM sign_in_throttles WHERE key = %s"
        f"{' FOR UPDATE' if lock else ''}",
        (key,),
    )
    return row or NO_FAILURES


async def write_throttle(conn: Connection, key: bytes, run: FailureRun, at: datetime) -> None:
    await conn.execute(
        "UPDATE sign_in_throttles SET failed_attempts = %s, locked_until = %s, updated_at = %s"
        " WHERE key = %s",
        (run.failed_attempts, run.locked_until, at, key),
    )


async def clear_throttles(conn: Connection, keys: list[bytes], at: datetime) -> None:
    """A success ends the runs under `keys`; a lock still running at `at` stays."""
    await conn.execute(
        "DELETE FROM sign_in_throttles WHERE key = ANY(%s)"
        " AND (locked_until IS NULL OR locked_until <= %s)",
        (keys, at),
    )


async def purge_throttles(conn: Connection, before: datetime) -> int:
    """Forget runs untouched since `before` whose lock (if any) is over."""
    cur = await conn.execute(
        "DELETE FROM sign_in_throttles WHERE updated_at < %s"
        " AND (locked_until IS NULL OR locked_until < %s)",
        (before, before),
    )
    return cur.rowcount
