"""Bearer tokens: random, shown once, stored only as a SHA-256 hash, expirable and revocable.

A plain hash is enough here (no salt or slow hash): the tokens carry 256 random bits, so there is
nothing to guess, and the lookup by hash stays a single index probe.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

from store.db import Connection, fetch_all, fetch_one
from store.rows import Token, TokenSubject

TOKEN_PREFIX = "af_"  # noqa: S105 - a prefix that makes leaked tokens easy to spot
COLUMNS = "id, subject_kind, subject_id, label, created_by, created_at, expires_at, revoked_at"
# Subjects named by the id of a row (a person, an account); an operator is named freely.
SUBJECTS_BY_ID = ("partner_user", "customer_user", "partner_service", "customer_service")


def canonical_subject_id(subject_kind: str, subject_id: str) -> str:
    """The subject id as tokens keep it: for a partner user or a customer, its UUID in the
    canonical lower-case, hyphenated form, from any form `uuid.UUID` reads ("urn:uuid:…",
    "{…}", upper case, no hyphens); ValueError if it is no UUID. An operator's name as given."""
    if subject_kind not in SUBJECTS_BY_ID:
        return subject_id
    return str(UUID(subject_id.strip()))


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(
    conn: Connection,
    *,
    subject_kind: str,
    subject_id: str,
    created_by: str,
    expires_at: datetime | None = None,
    label: str | None = None,
    token: str | None = None,
) -> tuple[Token, str]:
    """Store a new token and return its row and the token itself (the only time it is seen).

    A partner user's or customer's id is stored in its canonical form (ValueError if it is no
    UUID): authentication casts it, and it names the caller in records and idempotency keys.
    """
    subject_id = canonical_subject_id(subject_kind, subject_id)
    token = token or new_token()
    row = await fetch_one(
        conn,
        Token,
        "INSERT INTO api_tokens (token_hash, subject_kind, subject_id, label, created_by, expires_at)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
        (token_hash(token), subject_kind, subject_id, label, created_by, expires_at),
    )
    assert row is not None  # an INSERT ... RETURNING returns the row it inserted
    return row, token


async def find_valid(conn: Connection, token: str) -> Token | None:
    """The token's row if it exists, is not revoked and has not expired."""
    return await fetch_one(
        conn,
        Token,
        f"SELECT {COLUMNS} FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        (token_hash(token),),
    )


# What authorization needs of a caller (TokenSubject's fields beside its kind and id), from the
# rows `p` (its partner), `u` (the partner user) and `c` (its customer): a token's lookup and a
# console session's read the same.
SUBJECT_FACTS = (
    " p.id AS partner_id, p.type AS partner_type, u.permissions, c.id AS customer_id,"
    " coalesce(p.verification_required, c.verification_required, false)"
    "   AS verification_required,"
    " coalesce(p.service_tokens_may_decide, c.service_tokens_may_decide, false)"
    "   AS service_tokens_may_decide,"
    " CASE WHEN p.type IN ('distributor', 'psp') THEN ARRAY("
    "   SELECT child.id FROM partners child WHERE child.parent_partner_id = p.id"
    "   ORDER BY child.id) ELSE '{}' END AS child_partner_ids"
)


async def find_subject(conn: Connection, token: str) -> TokenSubject | None:
    """For a valid token, in one query: its subject and what authorization needs of it (the
    partner and the user's permissions and the resellers under the partner; or the customer;
    and the account's settings).

    The subject is read from `subject_uuid`, which PostgreSQL works out when the token is stored
    (migration 0008): tokens made before subject ids were stored canonically are returned with
    their id canonical, and an id that is no UUID names nobody."""
    return await fetch_one(
        conn,
        TokenSubject,
        "SELECT t.subject_kind, coalesce(t.subject_uuid::text, t.subject_id) AS subject_id,"
        f"{SUBJECT_FACTS} FROM api_tokens t"
        " LEFT JOIN partner_users u ON t.subject_kind = 'partner_user' AND u.id = t.subject_uuid"
        " LEFT JOIN customer_users cu ON t.subject_kind = 'customer_user' AND cu.id = t.subject_uuid"
        " LEFT JOIN partners p ON p.id = CASE t.subject_kind WHEN 'partner_user' THEN u.partner_id"
        "   WHEN 'partner_service' THEN t.subject_uuid END"
        " LEFT JOIN customers c ON c.id = CASE t.subject_kind WHEN 'customer_user'"
        "   THEN cu.customer_id WHEN 'customer_service' THEN t.subject_uuid END"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL"
        " AND (t.expires_at IS NULL OR t.expires_at > now())",
        (token_hash(token),),
    )


async def revoke(conn: Connection, token_id: UUID) -> Token | None:
    return await fetch_one(
        conn,
        Token,
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
        f" RETURNING {COLUMNS}",
        (token_id,),
    )


async def list_all(conn: Connection) -> list[Token]:
    return await fetch_all(
        conn, Token, f"SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, id DESC"
    )
