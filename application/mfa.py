"""A person's second factor: virtual MFA (TOTP, RFC 6238: six digits, 30-second steps, ±1 step,
each step usable once) with ten single-use recovery codes.

A person enrols (an otpauth URI and its QR code), confirms with a first code and receives the
recovery codes, once. When their account requires verification, submitting, agreeing, rejecting
and the settings that weaken it need the person's code. Five consecutive failures lock the
person's verification for fifteen minutes; only time unlocks it.

Secrets are kept encrypted (ASSOCFLOW_ENCRYPTION_KEY), recovery codes as argon2id hashes; no
code, secret or recovery code is ever readable again. The cryptography (decrypting, the TOTP's
HMAC, argon2) runs in the CPU pool (application.cpu), never on the event loop.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from application.cpu import off_loop
from application.errors import Failure, forbidden, unavailable
from application.principal import Principal
from application.services import Services
from domain import lockout
from domain.problems import ProblemCode
from domain.text import Text
from store import accounts, failure_runs, mfa
from store.rows import MfaEnrolment, RecoveryCode
from webhooks.secrets import SecretBox

ISSUER = "assocflow"
STEP_SECONDS = 30
RECOVERY_CODES = 10
# OWASP's argon2id minimum (19 MiB, 2 passes): a recovery code is random, the hash only has to
# make a stolen table useless.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Enrolment:
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Status:
    enrolled: bool
    confirmed_at: datetime | None
    recovery_codes_left: int


@dataclass(frozen=True)
class Spent:
    """What a verification used up, so that it can be given back if the operation did not
    happen: a TOTP step (with the step used before it), or a recovery code."""

    person_id: UUID
    step: int | None = None
    previous_step: int | None = None
    recovery_code_id: UUID | None = None


def now() -> datetime:
    """The time codes are judged at (tests move it to cover steps and locks)."""
    return datetime.now(UTC)


def _person(who: Principal) -> UUID:
    person = who.person_id
    if person is None:
        raise forbidden(
            Text("A service token has no second factor: people enrol, each for themselves.")
        )
    return person


def _box(svc: Services) -> SecretBox:
    key = svc.settings.encryption_key
    box = SecretBox(key.get_secret_value() if key else None)
    if not box.available:
        raise unavailable(Text("Verification needs ASSOCFLOW_ENCRYPTION_KEY on the server."))
    return box


def _step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def _matching_step(sealed: bytes, box: SecretBox, code: str, at: datetime) -> int | None:
    """The time step (at `at`, or one either side) whose code `code` is; None if none is. Runs
    in a thread: it decrypts and computes HMACs."""
    if not (code.isascii() and code.isdigit()):  # no step's code; compare_digest takes ASCII only
        return None
    totp = pyotp.TOTP(box.open(sealed))
    current = _step_of(at)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _matching_recovery_code(candidates: list[RecoveryCode], code: str) -> UUID | None:
    """Runs in a thread: argon2id, once per unused code."""
    for candidate in candidates:
        try:
            _HASHER.verify(candidate.code_hash, code)
        except VerificationError:
            continue
        return candidate.id
    return None


def _new_recovery_codes() -> tuple[list[str], list[str]]:
    """Ten codes like `k7m2p-xq9rt` and their hashes. Runs in a thread."""
    codes = [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]
    return codes, [_HASHER.hash(code) for code in codes]


def _qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=4, title="Scan with your authenticator app")


def _normalized(code: str) -> str:
    return "".join(code.split()).lower()


async def status(svc: Services, who: Principal) -> Status:
    person = _person(who)
    async with svc.pool.connection() as conn:
        enrolment = await mfa.enrolment(conn, person)
        left = len(await mfa.unused_recovery_codes(conn, person)) if enrolment else 0
    confirmed = enrolment is not None and enrolment.confirmed_at is not None
    return Status(
        enrolled=confirmed,
        confirmed_at=enrolment.confirmed_at if enrolment else None,
        recovery_codes_left=left if confirmed else 0,
    )


async def begin_enrolment(svc: Services, who: Principal) -> Enrolment:
    """A new secret for the caller, shown once as an otpauth URI and its QR code; it works once
    confirmed by a first code. Starting again before confirming replaces it."""
    person = _person(who)
    box = _box(svc)
    secret = pyotp.random_base32()
    sealed = await off_loop(box.seal, secret)
    async with svc.pool.connection() as conn:
        found = await accounts.get_person(conn, person)
        if not await mfa.begin(conn, person, sealed):
            raise Failure(
                ProblemCode.MFA_ALREADY_ENROLLED,
                Text(
                    "You are enrolled already; an operator can reset your enrolment if you lost it."
                ),
            )
    label = (found.email if found and found.email else None) or str(person)
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)
    return Enrolment(otpauth_uri=uri, qr_svg=await off_loop(_qr_svg, uri))


async def confirm_enrolment(svc: Services, who: Principal, code: str) -> list[str]:
    """Confirm the enrolment with a first code; returns the ten recovery codes (shown once)."""
    person = _person(who)
    box = _box(svc)
    await _not_locked(svc, person)
    async with svc.pool.connection() as conn:
        enrolment = await mfa.enrolment(conn, person)
    if enrolment is None or enrolment.confirmed_at is not None:
        raise Failure(
            ProblemCode.MFA_NOT_ENROLLING,
            Text("No enrolment waits for confirmation: start one with POST /v1/mfa/enrolment."),
        )
    at = now()
    step = await off_loop(_matching_step, enrolment.secret_encrypted, box, _normalized(code), at)
    if step is None:
        raise await _failed(svc, person, at)
    codes, hashes = await off_loop(_new_recovery_codes)
    async with svc.pool.connection() as conn, conn.transaction():
        if not await mfa.confirm(conn, person, step, hashes, at):
            raise Failure(
                ProblemCode.MFA_NOT_ENROLLING, Text("This enrolment was confirmed already.")
            )
        await failure_runs.write(conn, "verification", person, lockout.FailureRun(0, None))
    return codes


async def verify(svc: Services, who: Principal, code: str) -> Spent:
    """Spend the caller's code (a TOTP code or a recovery code), or fail with
    `mfa_enrolment_required`, `verification_code_incorrect` or `verification_locked`."""
    person = _person(who)
    await _not_locked(svc, person)
    async with svc.pool.connection() as conn:
        enrolment = await mfa.enrolment(conn, person)
    if enrolment is None or enrolment.confirmed_at is None:
        raise enrolment_required()
    at = now()
    given = _normalized(code)
    spent = await (
        _spend_totp(svc, person, enrolment, given, at)
        if given.isdigit()
        else _spend_recovery_code(svc, person, given, at)
    )
    if spent is None:
        raise await _failed(svc, person, at)
    async with svc.pool.connection() as conn:
        await failure_runs.write(conn, "verification", person, lockout.FailureRun(0, None))
    return spent


async def _spend_totp(
    svc: Services, person: UUID, enrolment: MfaEnrolment, code: str, at: datetime
) -> Spent | None:
    step = await off_loop(_matching_step, enrolment.secret_encrypted, _box(svc), code, at)
    if step is None:
        return None
    async with svc.pool.connection() as conn:
        used, previous = await mfa.use_step(conn, person, step)
    # A code whose step was spent already is a replay: refused like a wrong one.
    return Spent(person, step=step, previous_step=previous) if used else None


async def _spend_recovery_code(
    svc: Services, person: UUID, code: str, at: datetime
) -> Spent | None:
    async with svc.pool.connection() as conn:
        candidates = await mfa.unused_recovery_codes(conn, person)
    matched = await off_loop(_matching_recovery_code, candidates, code)
    if matched is None:
        return None
    async with svc.pool.connection() as conn:
        used = await mfa.use_recovery_code(conn, matched, at)
    return Spent(person, recovery_code_id=matched) if used else None


async def give_back(svc: Services, spent: Spent | None) -> None:
    """Return what a verification spent: the operation it was for did not happen."""
    if spent is None:
        return
    async with svc.pool.connection() as conn:
        if spent.step is not None:
            await mfa.give_back_step(conn, spent.person_id, spent.step, spent.previous_step)
        if spent.recovery_code_id is not None:
            await mfa.give_back_recovery_code(conn, spent.recovery_code_id)


def enrolment_required() -> Failure:
    return Failure(
        ProblemCode.MFA_ENROLMENT_REQUIRED,
        Text(
            "This account requires verification: enrol an authenticator app first"
            " (POST /v1/mfa/enrolment, then confirm it with a code)."
        ),
    )


async def _not_locked(svc: Services, person: UUID) -> None:
    async with svc.pool.connection() as conn:
        state = await failure_runs.read(conn, "verification", person)
    if (remaining := lockout.lock_remaining(state, now())) is not None:
        raise _locked(remaining)


async def _failed(svc: Services, person: UUID, at: datetime) -> Failure:
    """Count a failed code; the fifth in a row locks verification."""
    async with svc.pool.connection() as conn, conn.transaction():
        state = await failure_runs.read(conn, "verification", person, lock=True)
        if (remaining := lockout.lock_remaining(state, at)) is not None:
            return _locked(remaining)
        run = lockout.after_failure(state, at)
        await failure_runs.write(conn, "verification", person, run)
    if run.locked_until is not None:
        return _locked(lockout.LOCK, after_failures=True)
    return Failure(
        ProblemCode.VERIFICATION_CODE_INCORRECT,
        Text(
            "The code is incorrect or was used already; {left} attempt(s) left before"
            " verification is locked.",
            left=lockout.MAX_FAILURES - run.failed_attempts,
        ),
    )


def _locked(remaining: timedelta, *, after_failures: bool = False) -> Failure:
    minutes = max(1, round(remaining.total_seconds() / 60))
    locked = Text(
        "Verification is locked after {failures} failed codes; try again in about {minutes}"
        " minute(s).",
        failures=lockout.MAX_FAILURES,
        minutes=minutes,
    )
    return Failure(
        ProblemCode.VERIFICATION_LOCKED,
        Text("The code is incorrect. {locked}", locked=locked) if after_failures else locked,
        retry_after=remaining,
    )
