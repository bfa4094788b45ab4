"""Verification codes, one rule at a time: required when the account asks for it, delivered to
the message center, stored hashed, ten minutes, single use, five failures lock for fifteen
minutes whatever new codes are issued, and three distinct errors."""

from __future__ import annotations

import re

import pytest

from tests.api.test_disassociations import assert_problem, decide, submit
from tests.factories import bearer

pytestmark = pytest.mark.devserver


async def enable(api, token) -> None:
    response = await api.patch(
        "/v1/settings", json={"verification_required": True}, headers=bearer(token)
    )
    assert response.status_code == 200 and response.json() == {"verification_required": True}


async def send_code(api, token, purpose="disassociation.submit") -> str:
    """Ask for a code and read it from the account's message center, as a user would."""
    sent = await api.post(
        "/v1/verification-codes", json={"purpose": purpose}, headers=bearer(token)
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["purpose"] == purpose and sent.json()["sent_to"] == "message_center"
    inbox = await api.get("/v1/notifications?unread=true&limit=1", headers=bearer(token))
    [note] = inbox.json()["items"]
    assert (
        note["event_type"] == "verification.code" and note["payload"]["data"]["purpose"] == purpose
    )
    code = note["payload"]["data"]["code"]
    assert re.fullmatch(r"\d{6}", code) and code in note["summary"]
    await api.post(f"/v1/notifications/{note['id']}/read", headers=bearer(token))
    return code


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def second_association(factory, world):
    """Another association of the same partner, so a second submit is not blocked by the limit."""
    customer, token = await factory.customer()
    return await factory.association(world.partner_id, customer), token


async def test_off_by_default_and_only_partner_admins_switch_it(api, factory):
    world = await factory.world()
    assert (await api.get("/v1/settings", headers=bearer(world.partner_reader))).json() == {
        "verification_required": False
    }
    assert (await submit(api, world.partner_admin, world.association_id)).status_code == 201
    denied = await api.patch(
        "/v1/settings",
        json={"verification_required": True},
        headers=bearer(world.partner_submitter),
    )
    assert_problem(denied, 403, "forbidden")
    await enable(api, world.partner_admin)
    assert (await api.get("/v1/settings", headers=bearer(world.partner_reader))).json() == {
        "verification_required": True
    }


async def test_submit_needs_a_code_and_the_right_one_works_once(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    required = assert_problem(
        await submit(api, world.partner_admin, world.association_id), 403, "verification_required"
    )
    assert required["purpose"] == "disassociation.submit"
    code = await send_code(api, world.partner_submitter)
    incorrect = await submit(
        api, world.partner_admin, world.association_id, verification_code=wrong(code)
    )
    assert_problem(incorrect, 422, "verification_code_incorrect")
    accepted = await submit(api, world.partner_admin, world.association_id, verification_code=code)
    assert accepted.status_code == 201, accepted.text
    another, _ = await second_association(factory, world)
    reused = await submit(api, world.partner_admin, another, verification_code=code)
    body = assert_problem(reused, 422, "verification_code_expired")
    assert "already used" in body["detail"]


async def test_codes_are_stored_hashed(api, factory):
    world = await factory.world()
    code = await send_code(api, world.partner_admin)
    [row] = await factory.fetch(
        "SELECT code_hash, salt, expires_at - created_at AS lifetime FROM verification_codes"
        " WHERE account_id = %s",
        world.partner_id,
    )
    assert code.encode() not in bytes(row["code_hash"]) and len(bytes(row["code_hash"])) == 32
    assert len(bytes(row["salt"])) == 16
    assert row["lifetime"].total_seconds() == 600  # ten minutes


async def test_an_expired_code_is_refused_with_its_own_error(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    code = await send_code(api, world.partner_admin)
    async with factory.pool.connection() as conn:
        await conn.execute(
            "UPDATE verification_codes SET expires_at = now() - interval '1 second' WHERE account_id = %s",
            (world.partner_id,),
        )
    expired = await submit(api, world.partner_admin, world.association_id, verification_code=code)
    assert_problem(expired, 422, "verification_code_expired")
    fresh = await send_code(api, world.partner_admin)
    assert (
        await submit(api, world.partner_admin, world.association_id, verification_code=fresh)
    ).status_code == 201


async def test_five_failures_lock_and_a_new_code_does_not_reset_the_count(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    first = await send_code(api, world.partner_admin)
    for _ in range(3):
        bad = await submit(
            api, world.partner_admin, world.association_id, verification_code=wrong(first)
        )
        assert_problem(bad, 422, "verification_code_incorrect")
    code = await send_code(api, world.partner_admin)  # a new code: the count goes on
    bad = await submit(
        api, world.partner_admin, world.association_id, verification_code=wrong(code)
    )
    body = assert_problem(bad, 422, "verification_code_incorrect")
    assert "1 attempt(s) left" in body["detail"]
    locked = await submit(
        api, world.partner_admin, world.association_id, verification_code=wrong(code)
    )
    assert_problem(locked, 429, "verification_locked")
    assert 890 <= int(locked.headers["retry-after"]) <= 900  # fifteen minutes
    # Locked means locked: even the right code waits, for every user of the partner.
    still = await submit(api, world.partner_submitter, world.association_id, verification_code=code)
    assert_problem(still, 429, "verification_locked")
    async with factory.pool.connection() as conn:  # fifteen minutes later
        await conn.execute(
            "UPDATE verification_state SET locked_until = now() - interval '1 second' WHERE account_id = %s",
            (world.partner_id,),
        )
    assert (
        await submit(api, world.partner_admin, world.association_id, verification_code=code)
    ).status_code == 201


async def test_a_success_resets_the_count(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    code = await send_code(api, world.partner_admin)
    for _ in range(4):
        await submit(api, world.partner_admin, world.association_id, verification_code=wrong(code))
    assert (
        await submit(api, world.partner_admin, world.association_id, verification_code=code)
    ).status_code == 201
    [state] = await factory.fetch(
        "SELECT failed_attempts FROM verification_state WHERE account_id = %s", world.partner_id
    )
    assert state["failed_attempts"] == 0


async def test_decisions_need_a_decide_code_from_the_deciding_account(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    request_id = (await submit(api, world.customer, world.association_id)).json()[
        "id"
    ]  # customer: no code
    assert_problem(
        await decide(api, world.partner_processor, request_id, "agree"),
        403,
        "verification_required",
    )
    submit_code = await send_code(api, world.partner_admin, "disassociation.submit")
    wrong_purpose = await decide(
        api, world.partner_processor, request_id, "agree", verification_code=submit_code
    )
    assert_problem(wrong_purpose, 422, "verification_code_incorrect")
    code = await send_code(api, world.partner_processor, "disassociation.decide")
    agreed = await decide(api, world.partner_processor, request_id, "agree", verification_code=code)
    assert agreed.status_code == 200 and agreed.json()["status"] == "agreed"


async def test_withdraw_needs_no_code(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    code = await send_code(api, world.partner_admin)
    request_id = (
        await submit(api, world.partner_admin, world.association_id, verification_code=code)
    ).json()["id"]
    assert (await decide(api, world.partner_admin, request_id, "withdraw")).json()[
        "status"
    ] == "withdrawn"


async def test_customers_can_require_codes_for_their_own_account(api, factory):
    world = await factory.world()
    await enable(api, world.customer)
    assert_problem(
        await submit(api, world.customer, world.association_id), 403, "verification_required"
    )
    code = await send_code(api, world.customer)
    assert (
        await submit(api, world.customer, world.association_id, verification_code=code)
    ).status_code == 201
    # The partner's account is untouched.
    assert (await api.get("/v1/settings", headers=bearer(world.partner_admin))).json()[
        "verification_required"
    ] is False


async def test_turning_verification_off_needs_a_code(api, factory):
    world = await factory.world()
    await enable(api, world.partner_admin)
    off = {"verification_required": False}
    assert_problem(
        await api.patch("/v1/settings", json=off, headers=bearer(world.partner_admin)),
        403,
        "verification_required",
    )
    code = await send_code(api, world.partner_admin, "settings.update")
    turned_off = await api.patch(
        "/v1/settings", json={**off, "verification_code": code}, headers=bearer(world.partner_admin)
    )
    assert turned_off.status_code == 200 and turned_off.json() == off
    [entry] = await factory.fetch(
        "SELECT actor, action, before, after FROM audit_log WHERE target_id = %s AND after->>'verification_required' = 'false'",
        str(world.partner_id),
    )
    assert entry["actor"].startswith("partner_user:") and entry["before"] == {
        "verification_required": True
    }


async def test_who_may_ask_for_which_code(api, factory):
    world = await factory.world()
    for token, purpose, status in (
        (world.partner_reader, "disassociation.submit", 403),
        (world.partner_submitter, "disassociation.decide", 403),
        (world.partner_processor, "settings.update", 403),
        (world.partner_submitter, "disassociation.submit", 202),
        (world.partner_processor, "disassociation.decide", 202),
        (world.customer, "settings.update", 202),
    ):
        response = await api.post(
            "/v1/verification-codes", json={"purpose": purpose}, headers=bearer(token)
        )
        assert response.status_code == status, (purpose, response.text)
    bad = await api.post(
        "/v1/verification-codes", json={"purpose": "anything"}, headers=bearer(world.customer)
    )
    assert_problem(bad, 422, "validation_error")
