"""Rotating the encryption key of the secrets kept at rest (webhook signing secrets, people's TOTP
secrets).

ASSOCFLOW_ENCRYPTION_KEY lists keys newest first: every process seals with the first and opens
with any. Once a new key is first everywhere, `rotate_secrets` seals every stored secret again
with it, so that the old key can be dropped (README: Configuration).
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from psycopg_pool import AsyncConnectionPool

from application.errors import Failure, forbidden
from application.principal import Principal
from domain.problems import ProblemCode
from domain.text import Text
from store import audit, secrets
from store.db import Connection
from webhooks.secrets import SecretBox

# Where secrets are kept encrypted: (table, column). Each table is walked by its primary key; one
# that does not exist (yet: mfa_enrolments comes with a migration) is left out.
SEALED: tuple[tuple[str, str], ...] = (
    ("webhook_endpoints", "secret_encrypted"),
    ("mfa_enrolments", "secret_encrypted"),
)
BATCH_SIZE = 500

NO_ENCRYPTION_KEY = ProblemCode.ENCRYPTION_KEY_MISSING
INVALID_ENCRYPTION_KEY = ProblemCode.ENCRYPTION_KEY_INVALID
# Some secrets open with none of the keys given: the key that sealed them is missing from the list.
SECRETS_UNREADABLE = ProblemCode.SECRETS_UNREADABLE


async def rotate_secrets(
    pool: AsyncConnectionPool,
    who: Principal,
    encryption_key: str | None,
    *,
    batch_size: int = BATCH_SIZE,
    sealed: tuple[tuple[str, str], ...] = SEALED,
) -> dict[str, int]:
    """Seal every stored secret with the newest key of `encryption_key` (ASSOCFLOW_ENCRYPTION_KEY,
    newest first) and record it on the audit log; returns how many were re-encrypted per table.

    Each batch is a transaction that locks its rows, so the rotation can run while the services
    do; a secret the newest key already opens is left as it is, so running it again re-encrypts
    nothing more. Fails with `secrets_unreadable` (after doing all it could) if some secret
    opens with none of the keys.
    """
    if who.kind != "operator":
        raise forbidden(Text("Only operators may rotate the encryption key."))
    try:
        box = SecretBox(encryption_key)
    except ValueError as exc:  # its message names the key by its position, never by its value
        raise Failure(INVALID_ENCRYPTION_KEY, str(exc)) from None
    if not box.available:
        raise Failure(
            NO_ENCRYPTION_KEY,
            Text("Set ASSOCFLOW_ENCRYPTION_KEY: the new key first, then the keys it replaces."),
        )
    resealed: dict[str, int] = {}
    unreadable: dict[str, int] = {}
    async with pool.connection() as conn:
        for table, column in sealed:
            key = await secrets.primary_key(conn, table, column)
            if key is None:
                continue
            resealed[table], missed = await _rotate(conn, box, table, key, column, batch_size)
            if missed:
                unreadable[table] = missed
        await audit.record(
            conn,
            who.ref,
            "encryption_key.rotated",
            "encryption_key",
            box.newest_key_id,
            after={"reencrypted": resealed, "unreadable": unreadable},
        )
    if unreadable:
        raise Failure(
            SECRETS_UNREADABLE,
            Text(
                "Some secrets open with none of the keys in ASSOCFLOW_ENCRYPTION_KEY: add the key"
                " that sealed them (after the new one) and run the rotation again before dropping"
                " any key."
            ),
            reencrypted=resealed,
            unreadable=unreadable,
        )
    return resealed


async def _rotate(
    conn: Connection,
    box: SecretBox,
    table: str,
    key: tuple[str, ...],
    column: str,
    batch_size: int,
) -> tuple[int, int]:
    """Re-seal one table's secrets a batch at a time: (re-encrypted, unreadable)."""
    resealed = unreadable = 0
    after: secrets.Key | None = None
    while True:
        async with conn.transaction():
            rows = await secrets.lock_batch(conn, table, key, column, after=after, limit=batch_size)
            changed = []
            for row_key, value in rows:
                try:
                    new_value = box.reseal(value)
                except InvalidToken:
                    unreadable += 1
                    continue
                if new_value is not None:
                    changed.append((row_key, new_value))
            await secrets.write(conn, table, key, column, changed)
        resealed += len(changed)
        if len(rows) < batch_size:
            return resealed, unreadable
        after = rows[-1][0]
