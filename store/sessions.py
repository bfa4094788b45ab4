"""Signing in to the console: people's password hashes, sessions (kept as the SHA-256 of the
cookie's token), invitations (kept as the SHA-256 of the link's token) and the run of failed
sign-ins that locks a person out for a while.

The times are the caller's (application/sessions.py `now`), never the database's, so that
expiry and locks are judged by one clock. Each change is a compare-and-set: two requests with the
same token cannot both use it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from functools import cache
from uuid import UUID

from store.db import Connection, fetch_one, fetch_value
from store.rows import OpenInvitation, SessionSubject, SignInCandidate
from store.tokens import SUBJECT_FACTS


def new_token() -> str:
    """A session's or an invitation's token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What is stored of a token: 256 random bits need no salt or slow hash, and the lookup stays
    one index probe."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


# A person (`pe`) with their partner user (`u`) and partner (`p`), or customer user (`cu`) and
# customer (`c`).
_ACCOUNT_OF_PERSON = (
    "LEFT JOIN partner_users u ON pe.kind = 'partner_user' AND u.id = pe.id"
    " LEFT JOIN customer_users cu ON pe.kind = 'customer_user' AND cu.id = pe.id"
    " LEFT JOIN partners p ON p.id = u.partner_id"
    " LEFT JOIN customers c ON c.id = cu.customer_id"
)
_ENROLLED = (
    "EXISTS (SELECT 1 FROM mfa_enrolments e WHERE e.person_id = pe.id"
    " AND e.confirmed_at IS NOT NULL) AS enrolled"
)


# --- passwords -------------------------------------------------------------------------------


async def candidate(conn: Connection, email: str) -> SignInCandidate | None:
    """The person who signs in with `email` (any case)."""
    return await fetch_one(
        conn,
        SignInCandidate,
        f"SELECT pe.id, pe.kind, pe.email, pe.password_hash, {_ENROLLED}"
        " FROM people pe WHERE lower(pe.email) = lower(%s)",
        (email,),
    )


async def set_password(conn: Connection, person_id: UUID, password_hash: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE people SET password_hash = %s, password_set_at = %s WHERE id = %s",
        (password_hash, at, person_id),
    )


async def forget_password(conn: Connection, person_id: UUID) -> None:
    """No password signs the person in any more: only a new invitation sets one."""
    await conn.execute(
        "UPDATE people SET password_hash = NULL, password_set_at = NULL WHERE id = %s",
        (person_id,),
    )


async def verification_required(conn: Connection, person_id: UUID) -> bool:
    """Whether the person's account requires verification (a second factor) of its people."""
    required = await fetch_value(
        conn,
        bool,
        "SELECT coalesce(p.verification_required, c.verification_required, false)"
        f" FROM people pe {_ACCOUNT_OF_PERSON}"
        " WHERE pe.id = %s",
        (person_id,),
    )
    return bool(required)


async def rehash_password(conn: Connection, person_id: UUID, old: str, new: str) -> None:
    """Keep the same password under new parameters, unless it changed meanwhile."""
    await conn.execute(
        "UPDATE people SET password_hash = %s WHERE id = %s AND password_hash = %s",
        (new, person_id, old),
    )


async def set_language(conn: Connection, person_id: UUID, language: str) -> None:
    """The language the person reads the console in, from now on."""
    await conn.execute("UPDATE people SET language = %s WHERE id = %s", (language, person_id))


# --- failed sign-ins -------------------------------------------------------------------------


async def reset_failures(conn: Connection, person_id: UUID, at: datetime) -> None:
    """A success ends the run of failures; a lock still running at `at` stays (only time lifts
    it)."""
    await conn.execute(
        "UPDATE sign_in_failures SET failed_attempts = 0, locked_until = NULL"
        " WHERE person_id = %s AND (locked_until IS NULL OR locked_until <= %s)",
        (person_id, at),
    )


# --- sessions --------------------------------------------------------------------------------


async def open_session(
    conn: Connection,
    person_id: UUID,
    *,
    token: str,
    verified: bool,
    at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO console_sessions (id, person_id, created_at, last_seen_at, expires_at,"
        " verified) VALUES (%s, %s, %s, %s, %s, %s)",
        (token_hash(token), person_id, at, at, expires_at, verified),
    )


# A session by its token (find).
_FIND = (
    f"SELECT pe.kind AS subject_kind, pe.id::text AS subject_id,{SUBJECT_FACTS},"
    " pe.id AS person_id, coalesce(u.name, cu.name, '') AS name,"
    f" coalesce(pe.email, '') AS email, {_ENROLLED},"
    " s.verified, s.last_seen_at, s.expires_at, s.signed_out_at, pe.language,"
    " coalesce(p.name, c.name, '') AS account_name,"
    " (SELECT count(*) FROM (SELECT 1 FROM notifications n WHERE n.read_at IS NULL"
    "   AND n.recipient_kind = CASE WHEN p.id IS NULL THEN 'customer' ELSE 'partner' END"
    "   AND n.recipient_id = coalesce(p.id, c.id){up_to}) unread) AS unread"
    f" FROM console_sessions s JOIN people pe ON pe.id = s.person_id {_ACCOUNT_OF_PERSON}"
    " WHERE s.id = %s"
)


@cache
def find_query(unread_up_to: int) -> str:
    """The session's query, counting the unread up to `unread_up_to`.

    The count's limit is written into the statement, not sent as a parameter: PostgreSQL takes a
    LIMIT it is not told for a tenth of the notifications, so the one plan it would keep for the
    statement looked dearer than a plan made for each call, and it planned the session's query
    anew for every page, 0.3 ms each time however often the connection had run it
    (tests/integration/test_page_queries.py)."""
    return _FIND.replace("{up_to}", f" LIMIT {int(unread_up_to)}")


async def find(conn: Connection, token: str, *, unread_up_to: int = 0) -> SessionSubject | None:
    """The session of `token`, whatever its state, with its person and what authorization needs
    of them: the same facts store/tokens.py `find_subject` reads for a token of the person; and
    what every console page's header shows, in the same round trip: the account's name and its
    unread notifications, counted up to `unread_up_to` (notifications_unread)."""
    return await fetch_one(conn, SessionSubject, find_query(unread_up_to), (token_hash(token),))


async def verify(conn: Connection, token: str, at: datetime) -> bool:
    """The second step is done: the session works from now on. False if it was done already or
    the session ended."""
    done = await fetch_value(
        conn,
        bytes,
        "UPDATE console_sessions SET verified = true, last_seen_at = %s"
        " WHERE id = %s AND NOT verified AND signed_out_at IS NULL RETURNING id",
        (at, token_hash(token)),
    )
    return done is not None


async def seen(conn: Connection, token: str, at: datetime, *, unless_since: datetime) -> None:
    """Note that the session was used at `at`, unless that was noted since `unless_since` (one
    write a minute at most, however many pages a person opens)."""
    await conn.execute(
        "UPDATE console_sessions SET last_seen_at = %s WHERE id = %s AND last_seen_at < %s",
        (at, token_hash(token), unless_since),
    )


async def sign_out(conn: Connection, token: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE console_sessions SET signed_out_at = %s WHERE id = %s AND signed_out_at IS NULL",
        (at, token_hash(token)),
    )


async def sign_out_everywhere(conn: Connection, person_id: UUID, at: datetime) -> int:
    """End every session of the person; returns how many were open."""
    cur = await conn.execute(
        "UPDATE console_sessions SET signed_out_at = %s"
        " WHERE person_id = %s AND signed_out_at IS NULL",
        (at, person_id),
    )
    return cur.rowcount


# --- invitations -----------------------------------------------------------------------------


async def invite(
    conn: Connection,
    person_id: UUID,
    *,
    token: str,
    created_by: str,
    at: datetime,
    expires_at: datetime,
) -> None:
    """The person's open invitation, replacing an unused one (whose link stops working)."""
    await conn.execute(
        "INSERT INTO invitations (token_hash, person_id, created_by, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (person_id) WHERE used_at IS NULL DO UPDATE SET"
        " token_hash = EXCLUDED.token_hash, created_by = EXCLUDED.created_by,"
        " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        (token_hash(token), person_id, created_by, at, expires_at),
    )


async def open_invitation(
    conn: Connection, token: str, at: datetime, *, lock: bool = False
) -> OpenInvitation | None:
    """The invitation of `token` if it is unused and not expired at `at`, with its person; with
    `lock`, held until the transaction ends."""
    return await fetch_one(
        conn,
        OpenInvitation,
        "SELECT i.id, i.person_id, pe.kind, coalesce(u.name, cu.name, '') AS name, pe.email,"
        f" {_ENROLLED}, i.expires_at"
        " FROM invitations i JOIN people pe ON pe.id = i.person_id"
        " LEFT JOIN partner_users u ON pe.kind = 'partner_user' AND u.id = pe.id"
        " LEFT JOIN customer_users cu ON pe.kind = 'customer_user' AND cu.id = pe.id"
        " WHERE i.token_hash = %s AND i.used_at IS NULL AND i.expires_at > %s"
        f"{' FOR UPDATE OF i' if lock else ''}",
        (token_hash(token), at),
    )


async def use_invitation(conn: Connection, invitation_id: UUID, at: datetime) -> bool:
    used = await fetch_value(
        conn,
        UUID,
        "UPDATE invitations SET used_at = %s WHERE id = %s AND used_at IS NULL RETURNING id",
        (at, invitation_id),
    )
    return used is not None


# --- housekeeping ----------------------------------------------------------------------------


async def purge(conn: Connection, now: datetime) -> int:
    """Forget sessions and unused invitations past their expiry; used invitations stay as a
    record of who was invited when."""
    ended = await conn.execute("DELETE FROM console_sessions WHERE expires_at < %s", (now,))
    lapsed = await conn.execute(
        "DELETE FROM invitations WHERE used_at IS NULL AND expires_at < %s", (now,)
    )
    return ended.rowcount + lapsed.rowcount
