"""People signing in to the console (application/sessions.py), one rule at a time: email and
password, then the authenticator's code when the person has one; the same failure, and the same
work, for a wrong email as for a wrong password; five failures lock signing in for fifteen
minutes from that address, a hundred from anywhere for an hour, the same for an unknown email;
five wrong codes lock the person; attempts rate limited per address and per address and email; sessions that end when signed out, idle
or old; invitations that work once, expire and replace each other; the password policy; the admin
route and the CLI that invite; hashing off the event loop; and the trigger that announces each
notification to the console's live updates."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import uuid
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest
from argon2 import PasswordHasher

from api.observability import ObservabilityMiddleware
from application import admin, cpu, sessions
from application.errors import Failure
from application.identity import identify
from application.principal import Principal
from application.services import Services
from assocflow import logs
from domain import lockout
from store.accounts import PostgresStanding
from tests.api.test_disassociations import assert_problem
from tests.factories import bearer
from tests.integration.test_cli import run as run_cli
from tests.mfa import Authenticator, Clock, enrol, require_verification
from workflows.gateway import Gateway

pytestmark = pytest.mark.devserver

OPERATOR = Principal(kind="operator", subject_id="olivia")
PASSWORD = "correct horse battery"


@pytest.fixture
def clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock of codes (tests/mfa.py) moves sessions, invitations and locks too."""
    monkeypatch.setattr(sessions, "now", clock.now)
    return clock


@pytest.fixture
def svc(settings, pool, dev_env) -> Services:
    """What the use cases run on; sign-in attempts are not rate limited but where a test says."""
    unlimited = settings.model_copy(update={"rate_limit_sign_in": "1000/minute"})
    return Services(
        pool, Gateway(dev_env.client, unlimited.task_queue), unlimited, PostgresStanding(pool)
    )


def with_settings(svc: Services, **changes: object) -> Services:
    return dataclasses.replace(svc, settings=svc.settings.model_copy(update=changes))


@dataclasses.dataclass
class Person:
    id: UUID
    email: str
    token: str  # an API token of theirs
    partner_id: UUID


async def person(factory, partner_id: UUID | None = None) -> Person:
    partner = partner_id or await factory.partner()
    person_id, token = await factory.user(partner, ["admin"])
    [row] = await factory.fetch("SELECT email FROM people WHERE id = %s", person_id)
    return Person(person_id, row["email"], token, partner)


async def with_password(svc: Services, someone: Person, password: str = PASSWORD) -> None:
    """The person accepts an invitation and sets `password`."""
    link = await sessions.invite(svc, OPERATOR, someone.id)
    await sessions.accept_invitation(svc, token_of(link.url), password, client="tests")


async def enrolled_person(
    api, svc: Services, factory, clock: Clock
) -> tuple[Person, Authenticator]:
    """A person with a password and an authenticator (its app)."""
    someone = await person(factory)
    await with_password(svc, someone)
    app, _ = await enrol(api, someone.token, clock)
    return someone, app


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def refused(code: str, attempt) -> Failure:
    with pytest.raises(Failure) as raised:
        await attempt
    assert raised.value.code == code, (raised.value.code, raised.value.detail)
    return raised.value


def client() -> str:
    """An address of its own per test, so that tests do not share rate limits."""
    return f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"


# --- signing in ------------------------------------------------------------------------------


async def test_a_person_signs_in_and_is_who_a_token_of_theirs_is(svc, factory, clock):
    someone = await person(factory)
    await with_password(svc, someone)
    signed_in = await sessions.sign_in(
        svc, f"  {someone.email.upper()} ", PASSWORD, client=client()
    )
    assert not signed_in.needs_code
    assert signed_in.expires_at == clock.at + timedelta(hours=12)
    found = await sessions.session(svc, signed_in.token)
    assert found is not None
    async with svc.pool.connection() as conn:
        by_token = await identify(svc.settings, conn, someone.token)
    assert found.principal == by_token
    assert (found.person_id, found.email, found.name) == (someone.id, someone.email, "user")
    assert not found.must_enrol and found.expires_at == signed_in.expires_at
    # Only the token's SHA-256 is kept.
    stored = await factory.fetch("SELECT id FROM console_sessions WHERE person_id = %s", someone.id)
    assert signed_in.token.encode() not in b"".join(bytes(r["id"]) for r in stored)
    assert len(stored) == 2  # the invitation's, and this one


async def test_a_wrong_password_and_an_unknown_email_are_the_same_failure_and_the_same_work(
    svc, factory, clock, monkeypatch
):
    someone = await person(factory)
    await with_password(svc, someone)
    uninvited = await person(factory)  # has no password yet
    checked: list[tuple[str | None, str]] = []  # (the hash's parameters, the thread)
    matches = sessions._matches

    def observed(stored, password):
        params = stored.rsplit("$", 2)[0] if stored else None
        checked.append((params, threading.current_thread().name))
        return matches(stored, password)

    monkeypatch.setattr(sessions, "_matches", observed)
    failures = [
        await refused("sign_in_failed", sessions.sign_in(svc, email, password, client=client()))
        for email, password in (
            (someone.email, "not the password"),
            (f"nobody-{uuid.uuid4().hex}@example.test", PASSWORD),
            (uninvited.email, PASSWORD),
        )
    ]
    assert {f.detail for f in failures} == {"The email or password is not right."}
    # One argon2id check each, with today's parameters: against the person's hash, or a dummy.
    assert len(checked) == 3
    assert checked[0][0] is not None and {params for params, _ in checked[1:]} == {None}
    dummy = sessions._dummy_hash().rsplit("$", 2)[0]
    assert dummy == checked[0][0]


async def test_an_enrolled_person_gives_their_code_and_a_code_works_once(api, svc, factory, clock):
    someone = await person(factory)
    await with_password(svc, someone)
    app, recovery = await enrol(api, someone.token, clock)
    signed_in = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    assert signed_in.needs_code
    assert await sessions.session(svc, signed_in.token) is None  # not before the code

    wrong = await refused(
        "verification_code_incorrect",
        sessions.complete_sign_in(svc, signed_in.token, app.code(clock.at, steps=5)),
    )
    assert "attempt(s) left" in wrong.detail
    code = app.code(clock.at)
    await sessions.complete_sign_in(svc, signed_in.token, code)
    await sessions.complete_sign_in(svc, signed_in.token, code)  # the form sent twice: done
    assert (await sessions.session(svc, signed_in.token)) is not None

    # The same code for another sign-in, within its step: a replay, refused.
    again = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    await refused("verification_code_incorrect", sessions.complete_sign_in(svc, again.token, code))
    assert await sessions.session(svc, again.token) is None
    await sessions.complete_sign_in(svc, again.token, recovery[0])  # a recovery code, once
    assert await sessions.session(svc, again.token) is not None
    third = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    await refused(
        "verification_code_incorrect", sessions.complete_sign_in(svc, third.token, recovery[0])
    )


async def test_a_person_whose_account_requires_verification_enrols_first(api, svc, factory, clock):
    someone = await person(factory)
    await with_password(svc, someone)
    await require_verification(api, someone.token)
    signed_in = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    found = await sessions.session(svc, signed_in.token)
    assert found is not None and found.must_enrol and not signed_in.needs_code
    await enrol(api, someone.token, clock)
    found = await sessions.session(svc, signed_in.token)
    assert found is not None and not found.must_enrol


def answer(failure: Failure) -> tuple[str, str, timedelta | None]:
    """What a caller sees of a refusal: its code (and so its status), its words, its Retry-After."""
    return failure.code, failure.detail, failure.retry_after


async def test_a_known_and_an_unknown_email_get_the_same_answer_at_every_attempt(
    svc, factory, clock
):
    someone = await person(factory)
    await with_password(svc, someone)
    unknown = f"nobody-{uuid.uuid4().hex}@example.test"
    address = client()
    for attempt in range(1, 9):
        known = await refused_any(sessions.sign_in(svc, someone.email, "wrong!!", client=address))
        other = await refused_any(sessions.sign_in(svc, unknown, "wrong!!", client=address))
        assert answer(known) == answer(other), attempt
        expected = "sign_in_failed" if attempt < 5 else "sign_in_locked"
        assert known.code == expected, attempt
    # Even the right password gets what a wrong one for an unknown email gets, while locked.
    right = await refused_any(sessions.sign_in(svc, someone.email, PASSWORD, client=address))
    other = await refused_any(sessions.sign_in(svc, unknown, PASSWORD, client=address))
    assert answer(right) == answer(other) and right.code == "sign_in_locked"


async def refused_any(attempt) -> Failure:
    with pytest.raises(Failure) as raised:
        await attempt
    return raised.value


async def test_a_strangers_failures_lock_their_address_and_never_the_owner_elsewhere(
    svc, factory, clock
):
    someone = await person(factory)
    await with_password(svc, someone)
    stranger, owner = client(), client()
    sign_in = lambda password, address: sessions.sign_in(  # noqa: E731
        svc, someone.email, password, client=address
    )
    # A success ends a run of failures.
    for _ in range(4):
        await refused("sign_in_failed", sign_in("wrong password!", stranger))
    await sign_in(PASSWORD, stranger)
    for _ in range(4):
        await refused("sign_in_failed", sign_in("wrong password!", stranger))
    locked = await refused("sign_in_locked", sign_in("wrong password!", stranger))
    assert locked.retry_after == timedelta(minutes=15) and "15 minute(s)" in locked.detail
    await refused("sign_in_locked", sign_in(PASSWORD, stranger))  # the right password waits too
    # The owner, from their own address, is not kept out.
    assert not (await sign_in(PASSWORD, owner)).needs_code
    clock.at += timedelta(minutes=14)
    still = await refused("sign_in_locked", sign_in(PASSWORD, stranger))
    assert timedelta(0) < still.retry_after <= timedelta(minutes=1)
    clock.at += timedelta(minutes=1, seconds=1)
    assert not (await sign_in(PASSWORD, stranger)).needs_code


async def test_a_hundred_failures_in_a_row_from_anywhere_lock_the_email_for_an_hour(
    svc, factory, clock, monkeypatch
):
    # The bound is NIST SP 800-63B's 100 (tests/unit/test_lockout.py); ten here, for time.
    monkeypatch.setattr(lockout, "FOR_EMAIL", lockout.Rule(10, timedelta(hours=1)))
    someone = await person(factory)
    await with_password(svc, someone)
    unknown = f"nobody-{uuid.uuid4().hex}@example.test"
    for email in (someone.email, unknown):
        for address in (client(), client()):  # four per address: none locks on its own
            for _ in range(4):
                await refused("sign_in_failed", sessions.sign_in(svc, email, "no!", client=address))
        answers = [
            answer(await refused_any(sessions.sign_in(svc, email, "no!", client=client())))
            for _ in range(3)
        ]
        assert answers[0][0] == "sign_in_failed" and answers[1][0] == "sign_in_locked"
        assert answers[1][2] == timedelta(hours=1)
    # Locked from everywhere, for the owner too, even with the right password, until the hour ends.
    await refused("sign_in_locked", sessions.sign_in(svc, someone.email, PASSWORD, client=client()))
    clock.at += timedelta(hours=1, seconds=1)
    assert await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    [entry] = await factory.fetch(
        "SELECT actor, after FROM audit_log WHERE action = 'person.sign_in_locked'"
        " AND target_id = %s",
        str(someone.id),
    )
    assert entry["actor"] == "system:assocflow" and entry["after"]["failed_attempts"] == 10


async def test_five_wrong_codes_lock_sign_in_and_only_the_password_holder_learns_it(
    api, svc, factory, clock
):
    someone, app = await enrolled_person(api, svc, factory, clock)
    signed_in = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    for _ in range(4):
        await refused(
            "verification_code_incorrect",
            sessions.complete_sign_in(svc, signed_in.token, "000000"),
        )
    await refused("sign_in_locked", sessions.complete_sign_in(svc, signed_in.token, "000000"))
    await refused(
        "sign_in_locked", sessions.complete_sign_in(svc, signed_in.token, app.code(clock.at))
    )
    # A wrong password meets the plain failure; only the right one hears of the lock.
    await refused("sign_in_failed", sessions.sign_in(svc, someone.email, "wrong!", client=client()))
    await refused("sign_in_locked", sessions.sign_in(svc, someone.email, PASSWORD, client=client()))
    clock.at += timedelta(minutes=15, seconds=1)
    assert (await sessions.sign_in(svc, someone.email, PASSWORD, client=client())).needs_code


async def test_sign_in_attempts_are_rate_limited_per_address_and_per_address_and_email(
    svc, factory, clock
):
    limited = with_settings(svc, rate_limit_sign_in="3/hour")
    address = client()
    for _ in range(3):
        await refused(
            "sign_in_failed",
            sessions.sign_in(limited, f"{uuid.uuid4().hex}@x.test", "guess", client=address),
        )
    too_many = await refused(
        "rate_limited",
        sessions.sign_in(limited, f"{uuid.uuid4().hex}@x.test", "guess", client=address),
    )
    assert "from this address" in too_many.detail and too_many.retry_after is not None

    # Per address and email: one email from one address, never the email from everywhere.
    someone = await person(factory)
    await with_password(svc, someone)
    office = client()
    per_pair = with_settings(svc, rate_limit_sign_in="3/hour")
    for _ in range(3):
        await sessions.sign_in(per_pair, someone.email, PASSWORD, client=office)
    for_the_email = await refused(
        "rate_limited", sessions.sign_in(per_pair, someone.email, PASSWORD, client=office)
    )
    assert "for this email" in for_the_email.detail
    assert await sessions.sign_in(per_pair, someone.email, PASSWORD, client=client())


async def test_sign_in_attempts_count_in_the_window_of_the_time_the_attempt_is_judged_at(
    svc, clock
):
    """The rate limit and the locks read one clock: attempts made at one moment share a window
    whatever the wall clock does meanwhile, and the next window opens when that clock says."""
    limited = with_settings(svc, rate_limit_sign_in="2/minute")
    address = client()
    clock.at = clock.at.replace(second=59, microsecond=900_000)

    async def guess() -> None:
        await sessions.sign_in(limited, f"{uuid.uuid4().hex}@x.test", "guess", client=address)

    for _ in range(2):
        await refused("sign_in_failed", guess())
    too_many = await refused("rate_limited", guess())
    assert too_many.retry_after == timedelta(milliseconds=100)
    clock.at += timedelta(milliseconds=100)
    await refused("sign_in_failed", guess())


async def test_an_mfa_reset_ends_every_session_and_only_a_new_invitation_lets_them_in(
    api, svc, factory, clock
):
    someone, app = await enrolled_person(api, svc, factory, clock)
    await require_verification(api, someone.token)
    opened = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    await sessions.complete_sign_in(svc, opened.token, app.code(clock.at))
    assert await sessions.session(svc, opened.token) is not None

    await admin.reset_mfa(svc.pool, OPERATOR, someone.id)
    assert await sessions.session(svc, opened.token) is None
    # The password alone no longer signs them in (nor lets them enrol an authenticator).
    await refused("sign_in_failed", sessions.sign_in(svc, someone.email, PASSWORD, client=client()))
    [entry] = await factory.fetch(
        "SELECT after FROM audit_log WHERE action = 'mfa.reset' AND target_id = %s", str(someone.id)
    )
    # The invitation's session and this one.
    assert entry["after"] == {"sessions_ended": 2, "password_cleared": True}
    # A new invitation: a password, and enrolment before anything else.
    link = await sessions.invite(svc, OPERATOR, someone.id)
    signed_in = await sessions.accept_invitation(
        svc, token_of(link.url), "a new password here", client=client()
    )
    found = await sessions.session(svc, signed_in.token)
    assert found is not None and found.must_enrol


async def test_an_mfa_reset_where_verification_is_not_required_ends_sessions_and_keeps_the_password(
    api, svc, factory, clock
):
    someone, app = await enrolled_person(api, svc, factory, clock)
    opened = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    await sessions.complete_sign_in(svc, opened.token, app.code(clock.at))
    await admin.reset_mfa(svc.pool, OPERATOR, someone.id)
    assert await sessions.session(svc, opened.token) is None
    again = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    assert not again.needs_code  # no authenticator any more, and none required


# --- sessions --------------------------------------------------------------------------------


async def test_a_session_ends_when_idle_too_long_or_at_its_absolute_expiry(svc, factory, clock):
    someone = await person(factory)
    await with_password(svc, someone)
    signed_in = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())

    async def last_seen():
        [row] = await factory.fetch(
            "SELECT last_seen_at FROM console_sessions WHERE id = sha256(%s::bytea)",
            signed_in.token.encode(),
        )
        return row["last_seen_at"]

    started = await last_seen()
    clock.at += timedelta(seconds=59)
    assert await sessions.session(svc, signed_in.token) is not None
    assert await last_seen() == started  # at most one write a minute
    for _ in range(23):  # a page every 29 minutes keeps it alive: 11 h 7 min
        clock.at += timedelta(minutes=29)
        assert await sessions.session(svc, signed_in.token) is not None
    assert await last_seen() == clock.at
    clock.at += timedelta(minutes=29)  # 11 h 36 min
    assert await sessions.session(svc, signed_in.token) is not None
    clock.at = signed_in.expires_at  # twelve hours after signing in, however busy
    assert await sessions.session(svc, signed_in.token) is None

    idle = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    clock.at += timedelta(minutes=29, seconds=59)
    assert await sessions.session(svc, idle.token) is not None
    clock.at += timedelta(minutes=30)
    assert await sessions.session(svc, idle.token) is None
    await refused("sign_in_expired", sessions.complete_sign_in(svc, idle.token, "123456"))

    short = with_settings(svc, console_idle_timeout=timedelta(minutes=5))
    brief = await sessions.sign_in(short, someone.email, PASSWORD, client=client())
    clock.at += timedelta(minutes=5)
    assert await sessions.session(short, brief.token) is None


async def test_signing_out_ends_the_session(svc, factory, clock):
    someone = await person(factory)
    await with_password(svc, someone)
    signed_in = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    other = await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    await sessions.sign_out(svc, signed_in.token)
    await sessions.sign_out(svc, signed_in.token)  # again is fine
    assert await sessions.session(svc, signed_in.token) is None
    assert await sessions.session(svc, other.token) is not None  # another browser stays in
    assert await sessions.session(svc, "no such token") is None


# --- invitations and passwords ---------------------------------------------------------------


async def test_an_invitation_works_once_expires_and_a_newer_one_replaces_it(svc, factory, clock):
    someone = await person(factory)
    first = await sessions.invite(svc, OPERATOR, someone.id)
    assert first.url.startswith("http://127.0.0.1:8000/console/invitation/")
    assert first.expires_at == clock.at + timedelta(days=7)
    second = await sessions.invite(svc, OPERATOR, someone.id)
    assert await sessions.invitation(svc, token_of(first.url)) is None  # replaced
    invitee = await sessions.invitation(svc, token_of(second.url))
    assert invitee == sessions.Invitee(name="user", email=someone.email)
    await refused(
        "not_found",
        sessions.accept_invitation(svc, token_of(first.url), PASSWORD, client=client()),
    )
    signed_in = await sessions.accept_invitation(
        svc, token_of(second.url), PASSWORD, client=client()
    )
    assert not signed_in.needs_code and await sessions.session(svc, signed_in.token)
    assert await sessions.invitation(svc, token_of(second.url)) is None  # once
    await refused(
        "not_found",
        sessions.accept_invitation(svc, token_of(second.url), "another password", client="x"),
    )
    assert await sessions.sign_in(svc, someone.email, PASSWORD, client=client())

    # Accepting a new invitation (a forgotten password) signs the person out everywhere else.
    third = await sessions.invite(svc, OPERATOR, someone.id)
    renewed = await sessions.accept_invitation(
        svc, token_of(third.url), "a new password, long", client=client()
    )
    assert await sessions.session(svc, signed_in.token) is None
    assert await sessions.session(svc, renewed.token) is not None
    await refused("sign_in_failed", sessions.sign_in(svc, someone.email, PASSWORD, client=client()))

    late = await sessions.invite(svc, OPERATOR, someone.id)
    clock.at = late.expires_at
    assert await sessions.invitation(svc, token_of(late.url)) is None
    await refused(
        "not_found", sessions.accept_invitation(svc, token_of(late.url), PASSWORD, client="x")
    )

    entries = await factory.fetch(
        "SELECT actor, action, after FROM audit_log WHERE target_id = %s ORDER BY occurred_at",
        str(someone.id),
    )
    assert [e["action"] for e in entries] == [
        "person.invited", "person.invited", "person.password_set",
        "person.invited", "person.password_set", "person.invited",
    ]  # fmt: skip
    assert {e["actor"] for e in entries if e["action"] == "person.invited"} == {"operator:olivia"}
    assert entries[4]["actor"] == f"partner_user:{someone.id}"
    assert entries[4]["after"]["sessions_ended"] == 2  # the first session and the sign-in after


async def test_an_enrolled_person_accepting_an_invitation_still_gives_their_code(
    api, svc, factory, clock
):
    someone = await person(factory)
    await with_password(svc, someone)
    app, _ = await enrol(api, someone.token, clock)
    link = await sessions.invite(svc, OPERATOR, someone.id)
    signed_in = await sessions.accept_invitation(
        svc, token_of(link.url), "a forgotten one, replaced", client=client()
    )
    assert signed_in.needs_code and await sessions.session(svc, signed_in.token) is None
    await sessions.complete_sign_in(svc, signed_in.token, app.code(clock.at))
    assert await sessions.session(svc, signed_in.token) is not None


async def test_passwords_follow_nist_sp_800_63b(svc, factory, clock):
    someone = await person(factory)
    link = await sessions.invite(svc, OPERATOR, someone.id)
    token = token_of(link.url)
    for password, words in (
        ("eleven char", "at least 12 characters"),
        ("x" * 129, "at most 128 characters"),
        ("aaaaaaaaaaaaaaaa", "one character repeated"),
        (someone.email.upper(), "cannot be your email"),
    ):
        rejected = await refused(
            "password_rejected", sessions.accept_invitation(svc, token, password, client="x")
        )
        assert words in rejected.detail
        assert rejected.extra["errors"][0]["loc"] == ["body", "password"]
    assert await sessions.invitation(svc, token) is not None  # still usable
    # Any characters count, one each: twelve of them is enough, and spaces are fine.
    await sessions.accept_invitation(svc, token, "ça marche ¿y?", client="x")
    assert await sessions.sign_in(svc, someone.email, "ça marche ¿y?", client=client())
    [row] = await factory.fetch(
        "SELECT password_hash, password_set_at FROM people WHERE id = %s", someone.id
    )
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert row["password_set_at"] == clock.at


async def test_a_hash_made_with_other_parameters_is_made_again_at_sign_in(svc, factory, clock):
    someone = await person(factory)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with svc.pool.connection() as conn:
        await conn.execute("UPDATE people SET password_hash = %s WHERE id = %s", (weak, someone.id))
    await sessions.sign_in(svc, someone.email, PASSWORD, client=client())
    [row] = await factory.fetch("SELECT password_hash FROM people WHERE id = %s", someone.id)
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await sessions.sign_in(svc, someone.email, PASSWORD, client=client())


# --- operators invite: the admin API and the CLI ----------------------------------------------


async def test_operators_invite_people_through_the_admin_api(api, svc, factory):
    world = await factory.world()
    operator = await factory.token("operator", "olivia")
    path = f"/v1/admin/people/{world.partner_admin_id}/invitation"
    created = await api.post(path, headers={**bearer(operator), "Idempotency-Key": "same"})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert set(body) == {"person_id", "url", "expires_at"}
    assert body["person_id"] == str(world.partner_admin_id)
    assert body["url"].startswith(f"{svc.settings.public_url}/console/invitation/")
    # No Idempotency-Key: the same key again is a new link (a kept response would keep the link).
    again = await api.post(path, headers={**bearer(operator), "Idempotency-Key": "same"})
    assert again.status_code == 201 and again.json()["url"] != body["url"]
    assert await sessions.invitation(svc, token_of(body["url"])) is None
    assert await sessions.invitation(svc, token_of(again.json()["url"])) is not None

    unknown = await api.post(
        "/v1/admin/people/00000000-0000-4000-8000-00000000dead/invitation", headers=bearer(operator)
    )
    assert_problem(unknown, 404, "not_found")
    assert_problem(await api.post(path, headers=bearer(world.partner_admin)), 403, "forbidden")
    [entry, _] = await factory.fetch(
        "SELECT actor, after FROM audit_log WHERE action = 'person.invited' AND target_id = %s",
        str(world.partner_admin_id),
    )
    assert entry["actor"] == "operator:olivia" and "url" not in entry["after"]


async def test_operators_invite_people_from_the_cli(database_url, svc, factory):
    someone = await person(factory)
    invited = await asyncio.to_thread(run_cli, database_url, "people", "invite", str(someone.id))
    assert invited.returncode == 0, invited.stderr
    url = invited.stdout.strip()
    assert url.startswith("http://127.0.0.1:8000/console/invitation/")
    assert "expires:" in invited.stderr
    assert await sessions.invitation(svc, token_of(url)) is not None
    [entry] = await factory.fetch(
        "SELECT actor FROM audit_log WHERE action = 'person.invited' AND target_id = %s",
        str(someone.id),
    )
    assert entry["actor"].startswith("operator:cli:")
    unknown = await asyncio.to_thread(
        run_cli, database_url, "people", "invite", "00000000-0000-4000-8000-00000000dead"
    )
    assert unknown.returncode == 1 and "not_found" in unknown.stderr


async def test_the_access_log_never_holds_an_invitations_token(monkeypatch):
    lines: list[dict] = []

    class Recorder:
        def info(self, event: str, **fields: object) -> None:
            lines.append({"event": event, **fields})

    async def page(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    monkeypatch.setattr("api.observability.log", Recorder())
    token = "Zm9vYmFyYmF6cXV4LW5vdC1hLXJlYWwtdG9rZW4"
    scope = {"type": "http", "method": "GET", "headers": [], "path": f"/console/invitation/{token}"}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await ObservabilityMiddleware(page)(scope, receive, send)
    assert lines[0]["path"] == "/console/invitation/[redacted]"
    # And the last guard of every log line, whatever logged it (an error naming the URL).
    masked = logs._mask_secrets(None, "", {"event": f"failed on GET /console/invitation/{token}"})
    assert token not in masked["event"]


# --- the CPU pool ----------------------------------------------------------------------------


async def test_password_hashing_runs_off_the_event_loop(svc, factory, clock, monkeypatch):
    threads: list[str] = []
    hasher = sessions._HASHER

    class Observed:
        """argon2id's calls, with the thread each runs on."""

        def hash(self, *args):
            threads.append(threading.current_thread().name)
            return hasher.hash(*args)

        def verify(self, *args):
            threads.append(threading.current_thread().name)
            return hasher.verify(*args)

        def check_needs_rehash(self, *args):
            return hasher.check_needs_rehash(*args)

    monkeypatch.setattr(sessions, "_HASHER", Observed())
    sessions._dummy_hash.cache_clear()
    someone = await person(factory)
    await with_password(svc, someone)  # hash
    await sessions.sign_in(svc, someone.email, PASSWORD, client=client())  # verify
    await refused(  # the dummy's hash, and a verify against it
        "sign_in_failed", sessions.sign_in(svc, "nobody@x.test", PASSWORD, client=client())
    )
    assert len(threads) == 4
    assert {name.split("_")[0] for name in threads} == {cpu.THREAD_NAME_PREFIX}
    assert threading.main_thread().name not in threads


# --- live updates ----------------------------------------------------------------------------


async def test_each_notification_is_announced_to_listeners_as_it_is_written(database_url, factory):
    recipient, request_id = uuid.uuid4(), uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute("LISTEN assocflow_notifications")
        async with factory.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO notifications (recipient_kind, recipient_id, event_type, summary,"
                " request_id, payload, created_at, effect_key)"
                " VALUES ('partner', %s, 'disassociation.agreed', 'Agreed', %s, '{}', now(), %s)",
                (recipient, request_id, f"test:{uuid.uuid4()}"),
            )
        heard = [n async for n in listener.notifies(timeout=10, stop_after=1)]
    assert len(heard) == 1 and heard[0].channel == "assocflow_notifications"
    assert json.loads(heard[0].payload) == {
        "recipient_kind": "partner",
        "recipient_id": str(recipient),
        "request_id": str(request_id),
        "event_type": "disassociation.agreed",
    }
