"""Resource limits: rate limits per account (429 with Retry-After), body size, caps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application import guards
from tests.api.test_disassociations import assert_problem, submit
from tests.conftest import ENCRYPTION_KEY, api_client, make_settings
from tests.factories import bearer
from tests.mfa import enrol, require_verification

pytestmark = pytest.mark.devserver


async def test_submits_are_rate_limited_per_account(
    database_url, task_queue, dev_env, dev_worker, factory
):
    settings = make_settings(database_url, task_queue, rate_limit_submit="2/minute")
    world, other = await factory.world(), await factory.world()
    async with api_client(settings, dev_env.client) as api:
        assert (await submit(api, world.customer, world.association_id)).status_code == 201
        assert_problem(
            await submit(api, world.customer, world.association_id), 409, "request_pending"
        )
        limited = await submit(api, world.customer, world.association_id)
        assert_problem(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Another account has its own allowance.
        assert (await submit(api, other.customer, other.association_id)).status_code == 201


async def test_verification_attempts_are_rate_limited_per_person(
    database_url, task_queue, dev_env, dev_worker, factory, clock
):
    settings = make_settings(
        database_url, task_queue, rate_limit_verification="3/minute", encryption_key=ENCRYPTION_KEY
    )
    world = await factory.world()
    async with api_client(settings, dev_env.client) as api:
        await enrol(api, world.partner_admin, clock)
        await require_verification(api, world.partner_admin)
        for _ in range(3):
            wrong = await submit(
                api, world.partner_admin, world.association_id, verification_code="000000"
            )
            assert_problem(wrong, 422, "verification_code_incorrect")
        limited = await submit(
            api, world.partner_admin, world.association_id, verification_code="000000"
        )
        assert_problem(limited, 429, "rate_limited")
        assert "retry-after" in limited.headers
        # A colleague of the same partner is not held up by it.
        _, colleague = await factory.user(world.partner_id, ["admin"])
        await enrol(api, colleague, clock)
        theirs = await submit(api, colleague, world.association_id, verification_code="000000")
        assert_problem(theirs, 422, "verification_code_incorrect")


async def test_bodies_are_capped(api, factory):
    world = await factory.world()
    huge = {
        "association_id": str(world.association_id),
        "reason": "x" * (70 * 1024),
        "acknowledged": True,
    }
    response = await api.post("/v1/disassociations", json=huge, headers=bearer(world.customer))
    assert_problem(response, 413, "payload_too_large")
    with_key = await api.post(
        "/v1/disassociations",
        json=huge,
        headers={**bearer(world.customer), "Idempotency-Key": "big"},
    )
    assert_problem(with_key, 413, "payload_too_large")


async def test_lists_and_strings_are_capped(api, factory):
    world = await factory.world()
    assert_problem(
        await api.get("/v1/disassociations?limit=101", headers=bearer(world.customer)),
        422,
        "validation_error",
    )
    assert_problem(
        await api.get("/v1/disassociations?limit=0", headers=bearer(world.customer)),
        422,
        "validation_error",
    )
    operator = bearer("test-operator-token")
    long_name = await api.post("/v1/admin/customers", json={"name": "n" * 201}, headers=operator)
    assert_problem(long_name, 422, "validation_error")
    too_many = await api.post(
        f"/v1/admin/partners/{world.partner_id}/users",
        json={"name": "u", "permissions": ["admin"] * 5},
        headers=operator,
    )
    assert_problem(too_many, 422, "validation_error")


async def test_nul_characters_are_refused_not_a_server_error(api, factory):
    world = await factory.world()
    operator = bearer("test-operator-token")
    assert_problem(
        await api.post("/v1/admin/customers", json={"name": "a\x00b"}, headers=operator),
        422,
        "validation_error",
    )
    body = {"association_id": str(world.association_id), "reason": "x\x00", "acknowledged": True}
    assert_problem(
        await api.post("/v1/disassociations", json=body, headers=bearer(world.customer)),
        422,
        "validation_error",
    )
    assert_problem(
        await api.get("/v1/association-records?status=a%00", headers=bearer(world.customer)),
        422,
        "validation_error",
    )


async def test_rate_limited_responses_announce_the_limit(
    database_url, task_queue, dev_env, dev_worker, factory, monkeypatch
):
    """RateLimit-Limit, -Remaining and -Reset (the IETF draft's fields) on every response to a
    request a limit counted, refusals and the 429 included; none where no limit applies."""
    settings = make_settings(database_url, task_queue, rate_limit_submit="3/hour")
    # The window is the clock's hour: every hit below counts at one moment half-way through one.
    moment = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    monkeypatch.setattr(guards, "now", lambda: moment)
    world = await factory.world()
    async with api_client(settings, dev_env.client) as api:
        answers = [await submit(api, world.customer, world.association_id) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 409, 409, 429]
        for answer, remaining in zip(answers, [2, 1, 0, 0], strict=True):
            assert answer.headers["ratelimit-limit"] == "3"
            assert answer.headers["ratelimit-remaining"] == str(remaining)
            assert answer.headers["ratelimit-reset"] == "1800"  # the hour's second half
        assert answers[3].headers["retry-after"] == answers[3].headers["ratelimit-reset"]
        unlimited = await api.get("/v1/associations", headers=bearer(world.customer))
        assert unlimited.status_code == 200
        assert "ratelimit-limit" not in unlimited.headers
