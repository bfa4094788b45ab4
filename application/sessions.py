"""People signing in to the console: email and password, then their authenticator's code when
they have one; a session behind a cookie, which ends when they sign out, after
ASSOCFLOW_CONSOLE_IDLE_TIMEOUT without a page, or ASSOCFLOW_CONSOLE_SESSION_LIFETIME after it
began. A person gets their password through an operator's invitation: a link that works once,
for ASSOCFLOW_INVITATION_TTL.

What a guesser meets: a wrong email and a wrong password are the same failure, taking the same
time (an unknown email is checked against a dummy hash); five wrong passwords in a row from one
address for one email lock that address out of that email for fifteen minutes, and a hundred in
a row from anywhere lock the email for an hour (domain/lockout.py), known or unknown alike, so
no answer tells whether an email has an account, and a stranger's failures never keep its owner
out from another address before the hundredth; five wrong codes in a row lock the person's
sign-in for fifteen minutes (only someone with the password learns of it); only time lifts a
lock. Attempts are rate limited per client address and per address and email. Passwords are kept as argon2id hashes, computed in
the CPU pool (application.cpu), never on the event loop. Tokens (the cookie's, the link's) are
kept only as SHA-256 hashes.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from application import mfa
from application.admin import require_operator
from application.cpu import off_loop
from application.errors import Failure, not_found
from application.guards import within_limit
from application.identity import principal_of
from application.principal import Principal
from application.services import Services
from assocflow import i18n, logs
from assocflow.settings import Settings
from domain import lockout
from domain.problems import ProblemCode
from domain.types import SYSTEM, Actor, ActorKind
from store import accounts, audit, failure_runs, sessions
from store.rows import SessionSubject

log = logs.get(__name__)

# A session's last_seen_at is written at most this often.
SEEN_EVERY = timedelta(minutes=1)
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
INVITATION_PATH = "/console/invitation/"
# RFC 9106's second recommended option (argon2id, 64 MiB, 3 passes, 4 lanes), argon2-cffi's
# RFC_9106_LOW_MEMORY: people choose passwords, so a stolen table must make each guess costly.
# (Recovery codes are random, and application/mfa.py hashes them more cheaply.) Hashes made with
# other parameters are made again at the next sign-in.
_HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


@dataclass(frozen=True)
class SignedIn:
    token: str  # the cookie value, random, shown once
    needs_code: bool  # the person is enrolled: the session works only after complete_sign_in
    expires_at: datetime  # absolute expiry


@dataclass(frozen=True)
class ConsoleSession:
    principal: Principal  # exactly what a token of this person would give
    person_id: UUID
    name: str
    email: str
    must_enrol: bool  # the account requires verification and the person has no authenticator
    expires_at: datetime
    language: str | None = None  # the console's language the person chose (None: not yet)
    account_name: str = ""  # the partner's or the customer's the person acts for
    # The account's unread notifications, counted up to UNREAD_COUNTED_UP_TO; None when the
    # message center is not the person's to read (what it counts is not theirs to know).
    unread: int | None = None


@dataclass(frozen=True)
class Invitation:
    person_id: UUID
    url: str  # shown once: only its token's SHA-256 is kept
    expires_at: datetime


@dataclass(frozen=True)
class Invitee:
    name: str
    email: str


def now() -> datetime:
    """The time sessions, invitations and locks are judged at (tests move it)."""
    return datetime.now(UTC)


def cookie_secure(settings: Settings) -> bool:
    """Whether the console's cookies are sent over HTTPS only: when people reach it by https."""
    return settings.public_url.startswith("https://")


# --- signing in ------------------------------------------------------------------------------


async def sign_in(svc: Services, email: str, password: str, *, client: str) -> SignedIn:
    """A session for the person with this email and password: working at once, or after their
    authenticator's code (`needs_code`). Fails with `sign_in_failed` (either is wrong),
    `sign_in_locked` (too many failures from this address for this email, or for this email from
    anywhere) or `rate_limited`; each the same whether an account has the email or not."""
    email = email.strip()
    at = now()
    await _within_rate(svc, client, email, at)
    keys = _throttle_keys(client, email)
    await _not_throttled(svc, keys, at)
    async with svc.pool.connection() as conn:
        person = await sessions.candidate(conn, email) if email else None
    stored = person.password_hash if person else None
    if person is None or stored is None or not await off_loop(_matches, stored, password):
        if stored is None:  # as long as a wrong password takes
            await off_loop(_matches, None, password)
        locked = await _count_password_failure(svc, keys, person.id if person else None, at)
        log.info("sign-in failed", person_id=str(person.id) if person else None, client=client)
        raise locked or _wrong()
    async with svc.pool.connection() as conn:
        await failure_runs.clear_throttles(conn, list(keys), at)
    # Only someone who knows the password learns of a lock from wrong codes.
    await _not_locked(svc, person.id, at)
    await _rehash_if_needed(svc, person.id, stored, password)
    signed_in = await _open_session(svc, person.id, verified=not person.enrolled, at=at)
    if not person.enrolled:
        async with svc.pool.connection() as conn:
            await sessions.reset_failures(conn, person.id, at)
    log.info("signed in", person_id=str(person.id), client=client, needs_code=person.enrolled)
    return signed_in


async def complete_sign_in(svc: Services, token: str, code: str) -> None:
    """The second step: the person's TOTP or recovery code (spent) makes the session work. A
    wrong code is `verification_code_incorrect` and counts toward the person's lock."""
    async with svc.pool.connection() as conn:
        row = await sessions.find(conn, token)
    at = now()
    if row is None or not _alive(row, svc.settings, at):
        raise _ended()
    if row.verified:
        return  # the code form sent twice: done already
    who = principal_of(row)
    if who is None:
        raise _ended()
    await _not_locked(svc, row.person_id, at)
    try:
        await mfa.verify(svc, who, code)
    except Failure as failure:
        if failure.code not in ("verification_code_incorrect", "verification_locked"):
            raise
        locked = await _count_failure(svc, row.person_id, at)
        raise (locked or failure) from None
    async with svc.pool.connection() as conn, conn.transaction():
        await sessions.verify(conn, token, at)
        await sessions.reset_failures(conn, row.person_id, at)
    log.info("signed in with a code", person_id=str(row.person_id))


# Every console page shows the unread count: counted no further than this (a page would otherwise
# read all of an account's unread history).
UNREAD_COUNTED_UP_TO = 100


async def session(svc: Services, token: str, *, touch: bool = True) -> ConsoleSession | None:
    """The signed-in person of a cookie's token; None when the token is unknown, signed out, not
    yet verified by a code, idle too long or past its absolute expiry. A page the person opens
    `touch`es the session (it is not idle); an open page's event stream only looks."""
    async with svc.pool.connection() as conn:
        row = await sessions.find(conn, token, unread_up_to=UNREAD_COUNTED_UP_TO)
        at = now()
        if row is None or not row.verified or not _alive(row, svc.settings, at):
            return None
        who = principal_of(row)
        if who is None:  # the person's account no longer exists
            return None
        if touch and at - row.last_seen_at >= SEEN_EVERY:
            await sessions.seen(conn, token, at, unless_since=at - SEEN_EVERY)
    return ConsoleSession(
        principal=who,
        person_id=row.person_id,
        name=row.name,
        email=row.email,
        must_enrol=row.verification_required and not row.enrolled,
        expires_at=row.expires_at,
        language=row.language,
        account_name=row.account_name,
        unread=row.unread if who.reads_notifications else None,
    )


async def sign_out(svc: Services, token: str) -> None:
    """End the session (again is fine)."""
    async with svc.pool.connection() as conn:
        await sessions.sign_out(conn, token, now())


async def set_language(svc: Services, person_id: UUID, language: str) -> None:
    """The language the person reads the console in, wherever they sign in from: one of
    assocflow/i18n.py's LANGUAGES, by its tag (`zh-Hans`)."""
    if language not in i18n.LANGUAGES:
        raise Failure(
            ProblemCode.VALIDATION_ERROR,
            f"The console has no language {language!r}.",
            errors=[{"loc": ["body", "language"], "msg": "Choose one of the languages offered."}],
        )
    async with svc.pool.connection() as conn:
        await sessions.set_language(conn, person_id, language)


def _alive(row: SessionSubject, settings: Settings, at: datetime) -> bool:
    return (
        row.signed_out_at is None
        and at < row.expires_at
        and at - row.last_seen_at < settings.console_idle_timeout
    )


async def _open_session(
    svc: Services, person_id: UUID, *, verified: bool, at: datetime
) -> SignedIn:
    token = sessions.new_token()
    expires_at = at + svc.settings.console_session_lifetime
    async with svc.pool.connection() as conn:
        await sessions.open_session(
            conn, person_id, token=token, verified=verified, at=at, expires_at=expires_at
        )
    return SignedIn(token=token, needs_code=not verified, expires_at=expires_at)


# --- invitations -----------------------------------------------------------------------------


async def invite(svc: Services, who: Principal, person_id: UUID) -> Invitation:
    """A link for the person to set their password (and then enrol an authenticator), shown
    once, working once until ASSOCFLOW_INVITATION_TTL has passed; it replaces the person's unused
    one. Operators only; on the audit log."""
    require_operator(who)
    token = sessions.new_token()
    at = now()
    expires_at = at + svc.settings.invitation_ttl
    async with svc.pool.connection() as conn, conn.transaction():
        person = await accounts.get_person(conn, person_id)
        if person is None:
            raise not_found("person")
        if not person.email:
            raise Failure(
                ProblemCode.VALIDATION_ERROR,
                "This person has no email to sign in with.",
                errors=[{"loc": ["path", "person_id"], "msg": "The person has no email."}],
            )
        await sessions.invite(
            conn, person_id, token=token, created_by=who.ref, at=at, expires_at=expires_at
        )
        await audit.record(
            conn, who.ref, "person.invited", "person", person_id,
            after={"expires_at": expires_at.isoformat()},
        )  # fmt: skip
    url = f"{svc.settings.public_url}{INVITATION_PATH}{token}"
    return Invitation(person_id=person_id, url=url, expires_at=expires_at)


async def invitation(svc: Services, token: str) -> Invitee | None:
    """Whom a link invites, while it is unused and has not expired."""
    async with svc.pool.connection() as conn:
        found = await sessions.open_invitation(conn, token, now())
    if found is None or not found.email:
        return None
    return Invitee(name=found.name, email=found.email)


async def accept_invitation(svc: Services, token: str, password: str, *, client: str) -> SignedIn:
    """Set the invited person's password, use the invitation up, end their other sessions and
    sign them in. The session works at once, so that they enrol an authenticator next; a person
    who has one already gives its code first (`needs_code`): a link alone never stands in for a
    second factor."""
    async with svc.pool.connection() as conn:
        found = await sessions.open_invitation(conn, token, now())
    if found is None or not found.email:
        raise _invitation_gone()
    _check_password(password, found.email)
    password_hash = await off_loop(_hash, password)
    at = now()
    async with svc.pool.connection() as conn, conn.transaction():
        current = await sessions.open_invitation(conn, token, at, lock=True)
        if current is None or not await sessions.use_invitation(conn, current.id, at):
            raise _invitation_gone()  # used or replaced meanwhile
        await sessions.set_password(conn, current.person_id, password_hash, at)
        ended = await sessions.sign_out_everywhere(conn, current.person_id, at)
        actor = Actor(kind=_person_kind(current.kind), id=str(current.person_id))
        await audit.record(
            conn, actor.ref, "person.password_set", "person", current.person_id,
            after={"sessions_ended": ended, "password_set_at": at.isoformat()},
        )  # fmt: skip
    signed_in = await _open_session(svc, current.person_id, verified=not current.enrolled, at=at)
    log.info("password set from an invitation", person_id=str(current.person_id), client=client)
    return signed_in


def _person_kind(kind: str) -> ActorKind:
    return "customer_user" if kind == "customer_user" else "partner_user"


# --- passwords -------------------------------------------------------------------------------


def _check_password(password: str, email: str) -> None:
    """NIST SP 800-63B: long enough, not too long to hash, and not trivially guessed."""
    refusal = _refusal(_normalized(password), email)
    if refusal is not None:
        raise Failure(
            ProblemCode.PASSWORD_REJECTED,
            refusal,
            errors=[{"loc": ["body", "password"], "msg": refusal}],
        )


def _refusal(password: str, email: str) -> str | None:
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Choose a password of at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"Choose a password of at most {PASSWORD_MAX_LENGTH} characters."
    if len(set(password)) == 1:
        return "A password of one character repeated is easy to guess: choose another."
    if password.strip().casefold() == email.strip().casefold():
        return "Your password cannot be your email address: choose another."
    return None


def _normalized(password: str) -> str:
    """The same password however a keyboard composed its characters (NFKC, as SP 800-63B
    asks)."""
    return unicodedata.normalize("NFKC", password)


def _encoded(password: str) -> bytes:
    # surrogatepass: whatever a form delivers hashes, and a lone surrogate matches nothing set.
    return _normalized(password).encode("utf-8", "surrogatepass")


def _hash(password: str) -> str:
    """Runs in a thread: argon2id."""
    return _HASHER.hash(_encoded(password))


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, for people without one: checking against it costs what
    checking a real one does."""
    return _HASHER.hash(sessions.new_token())


def _matches(stored: str | None, password: str) -> bool:
    """Runs in a thread: argon2id against the stored hash, or the dummy one (always False)."""
    try:
        matched = _HASHER.verify(stored or _dummy_hash(), _encoded(password))
    except (VerificationError, InvalidHashError):
        return False
    return matched and stored is not None


async def _rehash_if_needed(svc: Services, person_id: UUID, stored: str, password: str) -> None:
    """A hash made with other parameters than today's is made again, now that the password is
    at hand."""
    if not _HASHER.check_needs_rehash(stored):
        return
    fresh = await off_loop(_hash, password)
    async with svc.pool.connection() as conn:
        await sessions.rehash_password(conn, person_id, stored, fresh)


# --- limits and locks ------------------------------------------------------------------------


async def _within_rate(svc: Services, client: str, email: str, at: datetime) -> None:
    """Attempts per client address, and per address and email: never per email alone, which
    would let a stranger keep the email's owner out. Counted at the sign-in's time `at`, the
    one its locks are judged at."""
    rate = svc.settings.rate_limit_sign_in
    # Hashed: rate_limits is no place for emails.
    pair = _digest("client-email", client, email).hex()
    await within_limit(
        svc.pool,
        f"sign-in:client-email:{pair}",
        rate,
        "Too many sign-in attempts for this email",
        at,
    )
    await within_limit(
        svc.pool,
        f"sign-in:client:{client}",
        rate,
        "Too many sign-in attempts from this address",
        at,
    )


@dataclass(frozen=True)
class ThrottleKeys:
    """Where a failed password counts: from this address for this email, and for this email."""

    from_address: bytes
    for_email: bytes

    def __iter__(self) -> Iterator[bytes]:
        return iter((self.from_address, self.for_email))


def _throttle_keys(client: str, email: str) -> ThrottleKeys:
    return ThrottleKeys(_digest("client-email", client, email), _digest("email", email))


def _digest(kind: str, *parts: str) -> bytes:
    return sessions.token_hash("\n".join((kind, *parts)).casefold())


async def _not_throttled(svc: Services, keys: ThrottleKeys, at: datetime) -> None:
    async with svc.pool.connection() as conn:
        runs = [await failure_runs.read_throttle(conn, key) for key in keys]
    remaining = [left for run in runs if (left := lockout.lock_remaining(run, at)) is not None]
    if remaining:
        raise _locked(max(remaining))


async def _count_password_failure(
    svc: Services, keys: ThrottleKeys, person_id: UUID | None, at: datetime
) -> Failure | None:
    """Count a failed password from this address and for this email; returns the lock's failure
    when either run locks now. An account's email locked from everywhere goes on the audit log."""
    rules = ((keys.from_address, lockout.FROM_ADDRESS), (keys.for_email, lockout.FOR_EMAIL))
    locks: list[timedelta] = []
    async with svc.pool.connection() as conn, conn.transaction():
        for key, rule in rules:
            run = lockout.after_failure(
                await failure_runs.read_throttle(conn, key, lock=True), at, rule
            )
            await failure_runs.write_throttle(conn, key, run, at)
            if run.locked_until is not None:
                locks.append(rule.lock)
        if person_id is not None and lockout.FOR_EMAIL.lock in locks:
            await audit.record(
                conn, SYSTEM.ref, "person.sign_in_locked", "person", person_id,
                after={
                    "failed_attempts": lockout.FOR_EMAIL.max_failures,
                    "locked_until": (at + lockout.FOR_EMAIL.lock).isoformat(),
                },
            )  # fmt: skip
    return _locked(max(locks)) if locks else None


async def _not_locked(svc: Services, person_id: UUID, at: datetime) -> None:
    async with svc.pool.connection() as conn:
        state = await failure_runs.read(conn, "sign_in", person_id)
    if (remaining := lockout.lock_remaining(state, at)) is not None:
        raise _locked(remaining)


async def _count_failure(svc: Services, person_id: UUID, at: datetime) -> Failure | None:
    """Count a person's wrong code at sign-in; the fifth in a row locks signing in (on the audit
    log). Returns the lock's failure when the person is locked."""
    async with svc.pool.connection() as conn, conn.transaction():
        state = await failure_runs.read(conn, "sign_in", person_id, lock=True)
        if (remaining := lockout.lock_remaining(state, at)) is not None:
            return _locked(remaining)
        run = lockout.after_failure(state, at, lockout.CODES)
        await failure_runs.write(conn, "sign_in", person_id, run)
        if run.locked_until is None:
            return None
        await audit.record(
            conn, SYSTEM.ref, "person.sign_in_locked", "person", person_id,
            after={
                "failed_attempts": state.failed_attempts + 1,
                "locked_until": run.locked_until.isoformat(),
            },
        )  # fmt: skip
    return _locked(lockout.CODES.lock)


def _wrong() -> Failure:
    return Failure(ProblemCode.SIGN_IN_FAILED, "The email or password is not right.")


def _locked(remaining: timedelta) -> Failure:
    minutes = max(1, round(remaining.total_seconds() / 60))
    return Failure(
        ProblemCode.SIGN_IN_LOCKED,
        f"Signing in is paused after too many failed attempts. Try again in about {minutes}"
        " minute(s).",
        retry_after=remaining,
    )


def _ended() -> Failure:
    return Failure(ProblemCode.SIGN_IN_EXPIRED, "Your sign-in has ended: sign in again.")


def _invitation_gone() -> Failure:
    return Failure(
        ProblemCode.NOT_FOUND,
        "This invitation link was used already, was replaced by a newer one, or has expired:"
        " ask an operator for a new one.",
    )
