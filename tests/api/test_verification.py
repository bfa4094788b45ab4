"""Verification is each person's second factor (virtual MFA, TOTP), one rule at a time: enrolment
shown once and confirmed, ±1 time step and each step once, recovery codes once, five failures lock
the person for fifteen minutes, service tokens only where the account allows them, and nothing a
code, secret or recovery code is ever readable again."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.api.test_disassociations import assert_problem, decide, submit
from tests.factories import bearer
from tests.mfa import Authenticator, enrol, require_verification

pytestmark = pytest.mark.devserver


async def second_association(factory, world):
    """Another association of the same partner, so a second submit is not blocked by the limit."""
    customer, _ = await factory.customer()
    return await factory.association(world.partner_id, customer)


async def test_off_by_default_and_only_partner_admins_switch_it(api, factory):
    world = await factory.world()
    assert (await api.get("/v1/settings", headers=bearer(world.partner_admin))).json() == {
        "verification_required": False,
        "service_tokens_may_decide": False,
        "language": "en",
    }
    # The settings are the admins' to read, as to change.
    read = await api.get("/v1/settings", headers=bearer(world.partner_reader))
    assert_problem(read, 403, "forbidden")
    assert (await submit(api, world.partner_admin, world.association_id)).status_code == 201
    denied = await api.patch(
        "/v1/settings",
        json={"verification_required": True},
        headers=bearer(world.partner_submitter),
    )
    assert_problem(denied, 403, "forbidden")
    await require_verification(api, world.partner_admin)
    assert (await api.get("/v1/settings", headers=bearer(world.partner_admin))).json()[
        "verification_required"
    ]


async def test_enrolment_is_shown_once_and_confirmed_by_a_first_code(api, factory, clock, pool):
    world = await factory.world()
    started = await api.post("/v1/mfa/enrolment", headers=bearer(world.partner_admin))
    assert started.status_code == 201 and started.headers["cache-control"] == "no-store"
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/assocflow:")
    assert "issuer=assocflow" in body["otpauth_uri"] and body["qr_svg"].startswith("<svg")
    app = Authenticator(body["otpauth_uri"])
    status = await api.get("/v1/mfa/enrolment", headers=bearer(world.partner_admin))
    assert status.json() == {"enrolled": False, "confirmed_at": None, "recovery_codes_left": 0}

    wrong = await api.post(
        "/v1/mfa/enrolment/confirm",
        json={"code": app.code(clock.at, steps=5)},
        headers=bearer(world.partner_admin),
    )
    assert_problem(wrong, 422, "verification_code_incorrect")
    # Other scripts' digits, lone surrogates: wrong codes, not errors.
    for odd in ("١٢٣٤٥٦", "\udbc1\udc93Ç^\u0014\ud9ec\udc9aÎ:"):
        refused = await api.post(
            "/v1/mfa/enrolment/confirm",
            content=json.dumps({"code": odd}),  # escaped: a lone surrogate has no UTF-8
            headers={**bearer(world.partner_admin), "Content-Type": "application/json"},
        )
        assert_problem(refused, 422, "verification_code_incorrect")
    confirmed = await api.post(
        "/v1/mfa/enrolment/confirm",
        json={"code": app.code(clock.at)},
        headers=bearer(world.partner_admin),
    )
    assert confirmed.status_code == 200 and confirmed.headers["cache-control"] == "no-store"
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    status = (await api.get("/v1/mfa/enrolment", headers=bearer(world.partner_admin))).json()
    assert status["enrolled"] and status["recovery_codes_left"] == 10
    again = await api.post("/v1/mfa/enrolment", headers=bearer(world.partner_admin))
    assert_problem(again, 409, "mfa_already_enrolled")

    # At rest: the secret encrypted, the recovery codes hashed with argon2id.
    secret = app.uri.split("secret=")[1].split("&")[0]
    [stored] = await factory.fetch(
        "SELECT secret_encrypted FROM mfa_enrolments WHERE person_id = %s", world.partner_admin_id
    )
    assert secret.encode() not in bytes(stored["secret_encrypted"])
    hashes = await factory.fetch(
        "SELECT code_hash FROM mfa_recovery_codes WHERE person_id = %s", world.partner_admin_id
    )
    assert len(hashes) == 10 and all(h["code_hash"].startswith("$argon2id$") for h in hashes)
    assert not any(code in h["code_hash"] for h in hashes for code in codes)


async def test_a_person_without_an_authenticator_is_asked_to_enrol(api, factory):
    world = await factory.world()
    await require_verification(api, world.partner_admin)
    refused = await submit(api, world.partner_admin, world.association_id, verification_code="1")
    assert_problem(refused, 403, "mfa_enrolment_required")


async def test_submit_needs_the_persons_code_once_within_a_step_either_side(api, factory, clock):
    world = await factory.world()
    app, _ = await enrol(api, world.partner_admin, clock)
    await require_verification(api, world.partner_admin)
    required = await submit(api, world.partner_admin, world.association_id)
    assert assert_problem(required, 403, "verification_required")["operation"]

    clock.tick()  # the step before now is unused too (the enrolment spent an older one)
    too_far = app.code(clock.at, steps=2)
    assert_problem(
        await submit(api, world.partner_admin, world.association_id, verification_code=too_far),
        422, "verification_code_incorrect",
    )  # fmt: skip
    code = app.code(clock.at, steps=-1)  # the step before: still accepted
    accepted = await submit(api, world.partner_admin, world.association_id, verification_code=code)
    assert accepted.status_code == 201, accepted.text
    # The same code again, within its step: a replay, refused.
    other = await second_association(factory, world)
    replayed = await submit(api, world.partner_admin, other, verification_code=code)
    assert_problem(replayed, 422, "verification_code_incorrect")
    ahead = app.code(clock.at, steps=1)  # the step after: accepted (a clock running fast)
    assert (
        await submit(api, world.partner_admin, other, verification_code=ahead)
    ).status_code == 201


async def test_a_recovery_code_works_once(api, factory, clock):
    world = await factory.world()
    _, recovery = await enrol(api, world.partner_admin, clock)
    await require_verification(api, world.partner_admin)
    used = await submit(
        api, world.partner_admin, world.association_id, verification_code=recovery[3].upper()
    )
    assert used.status_code == 201, used.text
    other = await second_association(factory, world)
    again = await submit(api, world.partner_admin, other, verification_code=recovery[3])
    assert_problem(again, 422, "verification_code_incorrect")
    status = (await api.get("/v1/mfa/enrolment", headers=bearer(world.partner_admin))).json()
    assert status["recovery_codes_left"] == 9


async def test_five_failures_lock_the_person_for_fifteen_minutes_and_only_time_unlocks(
    api, factory, clock
):
    world = await factory.world()
    app, _ = await enrol(api, world.partner_admin, clock)
    _, colleague = await factory.user(world.partner_id, ["admin"])
    colleague_app, _ = await enrol(api, colleague, clock)
    await require_verification(api, world.partner_admin)
    for attempt in range(1, 6):
        failed = await submit(
            api, world.partner_admin, world.association_id, verification_code="000000"
        )
        if attempt < 5:
            assert (
                "attempt(s) left"
                in assert_problem(failed, 422, "verification_code_incorrect")["detail"]
            )
    locked = assert_problem(failed, 429, "verification_locked")
    assert 14 * 60 < int(failed.headers["retry-after"]) <= 15 * 60
    assert "locked" in locked["detail"]
    right_but_locked = await submit(
        api, world.partner_admin, world.association_id, verification_code=app.code(clock.at)
    )
    assert_problem(right_but_locked, 429, "verification_locked")
    # The lock is the person's: a colleague of the same partner verifies as usual.
    colleague_submits = await submit(
        api, colleague, world.association_id, verification_code=colleague_app.code(clock.at)
    )
    assert colleague_submits.status_code == 201, colleague_submits.text
    clock.at += timedelta(minutes=15, seconds=1)
    other = await second_association(factory, world)
    after = await submit(api, world.partner_admin, other, verification_code=app.code(clock.at))
    assert after.status_code == 201, after.text


async def test_one_persons_code_is_not_anothers(api, factory, clock):
    world = await factory.world()
    admin_app, _ = await enrol(api, world.partner_admin, clock)
    await enrol(api, world.partner_submitter, clock)
    await require_verification(api, world.partner_admin)
    someone_elses = await submit(
        api, world.partner_submitter, world.association_id,
        verification_code=admin_app.code(clock.at),
    )  # fmt: skip
    assert_problem(someone_elses, 422, "verification_code_incorrect")


async def test_decisions_need_the_deciding_persons_code(api, factory, clock):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    await require_verification(api, world.partner_admin)
    app, _ = await enrol(api, world.partner_processor, clock)
    assert_problem(
        await decide(api, world.partner_processor, request["id"], "agree"),
        403, "verification_required",
    )  # fmt: skip
    agreed = await decide(
        api, world.partner_processor, request["id"], "agree", verification_code=app.code(clock.at)
    )
    assert agreed.status_code == 200 and agreed.json()["status"] == "agreed"


async def test_a_customers_people_enrol_and_verify_too(api, factory, clock):
    world = await factory.world()
    _, person = await factory.customer_user(world.customer_id)
    app, _ = await enrol(api, person, clock)
    await require_verification(api, person)
    assert_problem(await submit(api, person, world.association_id), 403, "verification_required")
    submitted = await submit(
        api, person, world.association_id, verification_code=app.code(clock.at)
    )
    assert submitted.status_code == 201, submitted.text


async def test_service_tokens_only_where_the_account_allows_them_by_a_persons_code(
    api, factory, clock
):
    world = await factory.world()
    service = await factory.token("customer_service", world.customer_id)
    person_id, person = await factory.customer_user(world.customer_id)
    app, _ = await enrol(api, person, clock)
    await require_verification(api, person)
    refused = await submit(api, service, world.association_id)
    assert "service token" in assert_problem(refused, 403, "verification_required")["detail"]
    # Letting service tokens through weakens verification: it takes a person's code.
    without = await api.patch(
        "/v1/settings", json={"service_tokens_may_decide": True}, headers=bearer(person)
    )
    assert_problem(without, 403, "verification_required")
    by_service = await api.patch(
        "/v1/settings", json={"service_tokens_may_decide": True}, headers=bearer(service)
    )
    # A service token never changes its account's settings.
    assert "service token" in assert_problem(by_service, 403, "forbidden")["detail"]
    allowed = await api.patch(
        "/v1/settings",
        json={"service_tokens_may_decide": True, "verification_code": app.code(clock.at)},
        headers=bearer(person),
    )
    assert allowed.json() == {
        "verification_required": True,
        "service_tokens_may_decide": True,
        "language": "en",
    }
    assert (await submit(api, service, world.association_id)).status_code == 201
    audit = await factory.fetch(
        "SELECT actor, after FROM audit_log WHERE target_id = %s AND action = 'settings.updated'"
        " ORDER BY occurred_at",
        str(world.customer_id),
    )
    assert audit[-1] == {
        "actor": f"customer_user:{person_id}",
        "after": {
            "verification_required": True,
            "service_tokens_may_decide": True,
            "language": "en",
        },
    }


async def test_turning_verification_off_needs_a_code_nobody_else_can_read(api, factory, clock):
    """The defect that was: a code sent to the message center, readable by any user of the
    partner. Now no code, secret or recovery code is anywhere to be read."""
    world = await factory.world()
    app, recovery = await enrol(api, world.partner_admin, clock)
    await require_verification(api, world.partner_admin)
    off = await api.patch(
        "/v1/settings", json={"verification_required": False}, headers=bearer(world.partner_admin)
    )
    assert_problem(off, 403, "verification_required")
    inbox = await api.get("/v1/notifications?limit=100", headers=bearer(world.partner_reader))
    readable = (
        inbox.text + (await api.get("/v1/settings", headers=bearer(world.partner_reader))).text
    )
    assert not re.search(r"\b\d{6}\b", readable) and not any(c in readable for c in recovery)
    done = await api.patch(
        "/v1/settings",
        json={"verification_required": False, "verification_code": app.code(clock.at)},
        headers=bearer(world.partner_admin),
    )
    assert done.json()["verification_required"] is False


async def test_the_old_code_route_is_gone_and_names_its_replacement(api, factory):
    world = await factory.world()
    gone = await api.post(
        "/v1/verification-codes", json={"purpose": "disassociation.submit"},
        headers=bearer(world.partner_admin),
    )  # fmt: skip
    assert assert_problem(gone, 410, "gone")["replacement"] == "/v1/mfa/enrolment"


async def test_an_operator_resets_an_enrolment_on_record_and_the_person_enrols_again(
    api, factory, clock
):
    world = await factory.world()
    await enrol(api, world.partner_admin, clock)
    await require_verification(api, world.partner_admin)
    operator = await factory.token("operator", "olivia")
    reset = await api.delete(
        f"/v1/admin/people/{world.partner_admin_id}/mfa", headers=bearer(operator)
    )
    assert reset.status_code == 204
    asked = await submit(api, world.partner_admin, world.association_id, verification_code="1")
    assert_problem(asked, 403, "mfa_enrolment_required")
    [entry] = await factory.fetch(
        "SELECT actor, before FROM audit_log WHERE action = 'mfa.reset' AND target_id = %s",
        str(world.partner_admin_id),
    )
    assert entry == {"actor": "operator:olivia", "before": {"enrolled": True}}
    app, _ = await enrol(api, world.partner_admin, clock)
    again = await submit(
        api, world.partner_admin, world.association_id, verification_code=app.code(clock.at)
    )
    assert again.status_code == 201, again.text
    unknown = await api.delete(
        "/v1/admin/people/00000000-0000-4000-8000-00000000dead/mfa", headers=bearer(operator)
    )
    assert_problem(unknown, 404, "not_found")
