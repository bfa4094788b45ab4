"""A person's run of consecutive failures, one per kind: verification codes (mfa_failures) and
console sign-ins (sign_in_failures). What a failure does to a run is domain/lockout.py's rule."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from domain.lockout import FailureRun
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
