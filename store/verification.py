"""Verification codes for sensitive operations: six digits, ten minutes, single use, stored as a
salted hash and compared in constant time; five consecutive failures lock the account's
verification for fifteen minutes, and a new code does not reset the count."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from store.db import Connection, fetch_one, fetch_value
from store.rows import VerificationCode, VerificationState

CODE_LIFETIME = timedelta(minutes=10)
MAX_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)


@dataclass(frozen=True)
class Account:
    """Whose codes: a partner (all its users share them) or a customer."""

    kind: str  # "partner" | "customer"
    id: UUID


class VerificationFailed(Exception):
    """`code` is the API's problem code; `retry_after` is set when verification is locked."""

    def __init__(self, code: str, message: str, retry_after: timedelta | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


def _hash(code: str, salt: bytes) -> bytes:
    # scrypt makes each guess against a stolen hash cost ~50 ms; ten minutes of life does the rest.
    return hashlib.scrypt(code.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


async def issue(
    conn: Connection, account: Account, purpose: str, now: datetime
) -> tuple[UUID, str, datetime]:
    """Store a new code (its hash) and return (id, code, expires_at); the newest code of a
    purpose is the only one that counts."""
    code, salt = new_code(), os.urandom(16)
    expires_at = now + CODE_LIFETIME
    code_id = await fetch_value(
        conn,
        UUID,
        "INSERT INTO verification_codes (account_kind, account_id, purpose, salt, code_hash,"
        " created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (account.kind, account.id, purpose, salt, _hash(code, salt), now, expires_at),
    )
    assert code_id is not None  # an INSERT ... RETURNING returns the row it inserted
    return code_id, code, expires_at


async def verify(
    conn: Connection, account: Account, purpose: str, code: str, now: datetime
) -> UUID:
    """Consume `code` and return its id, or raise VerificationFailed. A failure is committed
    before it is raised."""
    async with conn.transaction():
        outcome = await _check_and_count(conn, account, purpose, code, now)
    if isinstance(outcome, VerificationFailed):
        raise outcome
    return outcome


async def give_back(conn: Connection, code_id: UUID) -> None:
    """Make a consumed code usable again: the operation it was spent on did not happen (a submit
    the account check refused)."""
    await conn.execute("UPDATE verification_codes SET used_at = NULL WHERE id = %s", (code_id,))


async def _check_and_count(
    conn: Connection, account: Account, purpose: str, code: str, now: datetime
) -> VerificationFailed | UUID:
    await conn.execute(
        "INSERT INTO verification_state (account_kind, account_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING",
        (account.kind, account.id),
    )
    state = await fetch_one(
        conn,
        VerificationState,
        "SELECT failed_attempts, locked_until FROM verification_state"
        " WHERE account_kind = %s AND account_id = %s FOR UPDATE",
        (account.kind, account.id),
    )
    assert state is not None  # inserted just above if it was missing
    if state.locked_until is not None and state.locked_until > now:
        return _locked(state.locked_until - now)
    latest = await fetch_one(
        conn,
        VerificationCode,
        "SELECT id, salt, code_hash, expires_at, used_at FROM verification_codes"
        " WHERE account_kind = %s AND account_id = %s AND purpose = %s"
        " ORDER BY created_at DESC LIMIT 1",
        (account.kind, account.id, purpose),
    )
    candidate = code.strip()
    if (
        latest is None
        or len(candidate) != 6
        or not hmac.compare_digest(_hash(candidate, latest.salt), latest.code_hash)
    ):
        return await _count_failure(conn, account, state.failed_attempts + 1, now)
    # The right code, but no longer usable: not a guess, so not a failure either.
    if latest.used_at is not None:
        return VerificationFailed(
            "verification_code_expired", "This code was already used; request a new one."
        )
    if latest.expires_at <= now:
        return VerificationFailed(
            "verification_code_expired", "This code has expired; request a new one."
        )
    await conn.execute("UPDATE verification_codes SET used_at = %s WHERE id = %s", (now, latest.id))
    await _set_state(conn, account, 0, None)
    return latest.id


async def _count_failure(
    conn: Connection, account: Account, failures: int, now: datetime
) -> VerificationFailed:
    if failures >= MAX_FAILURES:
        await _set_state(conn, account, 0, now + LOCK_DURATION)
        return _locked(LOCK_DURATION, after_failures=True)
    await _set_state(conn, account, failures, None)
    left = MAX_FAILURES - failures
    return VerificationFailed(
        "verification_code_incorrect",
        f"The code is incorrect; {left} attempt(s) left before verification is locked.",
    )


def _locked(remaining: timedelta, after_failures: bool = False) -> VerificationFailed:
    minutes = max(1, round(remaining.total_seconds() / 60))
    lead = "The code is incorrect. " if after_failures else ""
    return VerificationFailed(
        "verification_locked",
        f"{lead}Verification is locked after {MAX_FAILURES} failed attempts; try again in about"
        f" {minutes} minute(s).",
        retry_after=remaining,
    )


async def _set_state(
    conn: Connection, account: Account, failures: int, locked_until: datetime | None
) -> None:
    await conn.execute(
        "UPDATE verification_state SET failed_attempts = %s, locked_until = %s"
        " WHERE account_kind = %s AND account_id = %s",
        (failures, locked_until, account.kind, account.id),
    )
