"""People's second factor: the TOTP enrolment (its secret kept encrypted), recovery codes (kept
as argon2id hashes), and the count of consecutive failed codes that locks verification.

Each change is a compare-and-set, so two requests with the same code cannot both pass."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from store.db import Connection, fetch_all, fetch_one, fetch_value
from store.rows import MfaEnrolment, RecoveryCode


async def enrolment(conn: Connection, person_id: UUID) -> MfaEnrolment | None:
    return await fetch_one(
        conn,
        MfaEnrolment,
        "SELECT person_id, secret_encrypted, created_at, confirmed_at, last_used_step"
        " FROM mfa_enrolments WHERE person_id = %s",
        (person_id,),
    )


async def begin(conn: Connection, person_id: UUID, secret_encrypted: bytes) -> bool:
    """Start (or start over) an unconfirmed enrolment; False if a confirmed one exists."""
    started = await fetch_value(
        conn,
        UUID,
        "INSERT INTO mfa_enrolments (person_id, secret_encrypted) VALUES (%s, %s)"
        " ON CONFLICT (person_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted,"
        " created_at = now() WHERE mfa_enrolments.confirmed_at IS NULL RETURNING person_id",
        (person_id, secret_encrypted),
    )
    return started is not None


async def confirm(
    conn: Connection, person_id: UUID, step: int, recovery_hashes: list[str], at: datetime
) -> bool:
    """Confirm an unconfirmed enrolment with the step of its first code, and keep its recovery
    codes (the old ones, if any, go). False if it was not waiting for confirmation."""
    confirmed = await fetch_value(
        conn,
        UUID,
        "UPDATE mfa_enrolments SET confirmed_at = %s, last_used_step = %s"
        " WHERE person_id = %s AND confirmed_at IS NULL RETURNING person_id",
        (at, step, person_id),
    )
    if confirmed is None:
        return False
    await conn.execute("DELETE FROM mfa_recovery_codes WHERE person_id = %s", (person_id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO mfa_recovery_codes (person_id, code_hash) VALUES (%s, %s)",
            [(person_id, code_hash) for code_hash in recovery_hashes],
        )
    return True


async def use_step(conn: Connection, person_id: UUID, step: int) -> tuple[bool, int | None]:
    """Spend a TOTP time step: (False, None) if it, or a later one, was spent already; otherwise
    (True, the step spent before it), so that it can be given back."""
    previous = await fetch_one(
        conn,
        MfaEnrolment,
        "UPDATE mfa_enrolments e SET last_used_step = %s FROM mfa_enrolments old"
        " WHERE e.person_id = %s AND old.person_id = e.person_id AND e.confirmed_at IS NOT NULL"
        " AND (e.last_used_step IS NULL OR e.last_used_step < %s)"
        " RETURNING old.person_id, old.secret_encrypted, old.created_at, old.confirmed_at,"
        " old.last_used_step",
        (step, person_id, step),
    )
    if previous is None:
        return False, None
    return True, previous.last_used_step


async def give_back_step(
    conn: Connection, person_id: UUID, step: int, previous: int | None
) -> None:
    """Undo `use_step` (the operation it was spent on did not happen), unless a later step was
    spent since."""
    await conn.execute(
        "UPDATE mfa_enrolments SET last_used_step = %s WHERE person_id = %s AND last_used_step = %s",
        (previous, person_id, step),
    )


async def unused_recovery_codes(conn: Connection, person_id: UUID) -> list[RecoveryCode]:
    return await fetch_all(
        conn,
        RecoveryCode,
        "SELECT id, code_hash FROM mfa_recovery_codes WHERE person_id = %s AND used_at IS NULL",
        (person_id,),
    )


async def use_recovery_code(conn: Connection, code_id: UUID, at: datetime) -> bool:
    used = await fetch_value(
        conn,
        UUID,
        "UPDATE mfa_recovery_codes SET used_at = %s WHERE id = %s AND used_at IS NULL RETURNING id",
        (at, code_id),
    )
    return used is not None


async def give_back_recovery_code(conn: Connection, code_id: UUID) -> None:
    await conn.execute("UPDATE mfa_recovery_codes SET used_at = NULL WHERE id = %s", (code_id,))


async def reset(conn: Connection, person_id: UUID) -> bool:
    """Forget the person's enrolment and recovery codes; True if there was one."""
    await conn.execute("DELETE FROM mfa_recovery_codes WHERE person_id = %s", (person_id,))
    gone = await fetch_value(
        conn,
        UUID,
        "DELETE FROM mfa_enrolments WHERE person_id = %s RETURNING person_id",
        (person_id,),
    )
    return gone is not None
