"""Idempotency-Key: retries get the first response, other bodies are refused, keys belong to
their caller and outlive 24 hours, and concurrent retries make one request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from application import guards
from application.principal import Principal
from application.requests import request_id_for
from domain.types import AccountStanding, Side
from store import idempotency
from tests.api.test_disassociations import assert_problem, submit
from tests.conftest import api_client, make_settings
from tests.documented_errors import RECORDER
from tests.factories import bearer, command
from workflows import starter

pytestmark = pytest.mark.devserver


def submit_body(world, reason="Moving on") -> dict:
    return {"association_id": str(world.association_id), "reason": reason, "acknowledged": True}


def derived_request_id(customer_id: UUID, key: str, body: dict) -> UUID:
    """The id a customer's submit with this key and body gives its request."""
    customer = Principal(
        kind="customer", subject_id=str(customer_id), customer_id=customer_id, service=True
    )
    return request_id_for(customer, key, UUID(body["association_id"]), body["reason"])


async def post(api, token, key, body, path="/v1/disassociations"):
    return await api.post(path, json=body, headers={**bearer(token), "Idempotency-Key": key})


async def count_requests(factory, world) -> int:
    return await factory.count(
        "SELECT count(*) FROM requests WHERE association_id = %s",
        world.association_id,
    )


async def test_a_retry_gets_the_first_response_and_creates_nothing_new(api, factory):
    world = await factory.world()
    key = f"submit-{uuid4()}"
    first = await post(api, world.customer, key, submit_body(world))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await post(api, world.customer, key, {"reason": "Moving on", "acknowledged": True,
                                                  "association_id": str(world.association_id)})  # fmt: skip
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await count_requests(factory, world) == 1


async def test_the_same_key_with_another_body_is_422(api, factory):
    world = await factory.world()
    key = f"submit-{uuid4()}"
    assert (await post(api, world.customer, key, submit_body(world))).status_code == 201
    reused = await post(api, world.customer, key, submit_body(world, reason="Another reason"))
    assert_problem(reused, 422, "idempotency_key_reused")
    [request] = await factory.fetch(
        "SELECT id FROM requests WHERE association_id = %s", world.association_id
    )
    other_route = await post(
        api, world.customer, key, {}, f"/v1/disassociations/{request['id']}/withdraw"
    )
    assert_problem(other_route, 422, "idempotency_key_reused")


async def test_refusals_are_replayed_too(api, factory):
    world = await factory.world(standing=AccountStanding(arrears="1.00"))
    key = f"submit-{uuid4()}"
    first = await post(api, world.customer, key, submit_body(world))
    assert_problem(first, 422, "check_failed")
    async with factory.pool.connection() as conn:  # fixing the standing does not change the answer
        from store.accounts import put_standing

        await put_standing(conn, world.customer_id, AccountStanding())
    again = await post(api, world.customer, key, submit_body(world))
    assert again.status_code == 422 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    fresh = await post(api, world.customer, f"submit-{uuid4()}", submit_body(world))
    assert fresh.status_code == 201


async def test_concurrent_retries_make_one_request(api, factory):
    world = await factory.world()
    key = f"submit-{uuid4()}"
    responses = await asyncio.gather(
        *(post(api, world.customer, key, submit_body(world)) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
    assert await count_requests(factory, world) == 1


async def test_keys_belong_to_their_caller(api, factory):
    world, other = await factory.world(), await factory.world()
    key = f"shared-{uuid4()}"
    mine = await post(api, world.customer, key, submit_body(world))
    theirs = await post(api, other.customer, key, submit_body(other))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    # Someone else's key never reveals the first caller's response.
    stranger = await post(api, other.customer, f"{key}-x", submit_body(world))
    assert_problem(stranger, 404, "not_found")


async def test_keys_are_kept_24_hours_then_forgotten(api, factory, pool):
    world = await factory.world()
    key = f"old-{uuid4()}"
    first = await post(api, world.customer, key, submit_body(world))
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET started_at = now() - interval '23 hours 59 minutes' WHERE key = %s",
            (key,),
        )
        assert await idempotency.purge(conn, timedelta(hours=24)) == 0
    replay = await post(api, world.customer, key, submit_body(world))
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == first.json()
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET started_at = now() - interval '24 hours 1 minute' WHERE key = %s",
            (key,),
        )
        assert await idempotency.purge(conn, timedelta(hours=24)) >= 1


async def test_a_retry_after_a_lost_answer_joins_the_first_workflow(
    api, factory, dev_env, task_queue
):
    """The first attempt started the workflow but its answer never reached the client (the API
    died, say): the retry with the same key names the same request and joins it."""
    world = await factory.world()
    key = f"lost-{uuid4()}"
    cmd = command(world, Side.CUSTOMER).model_copy(
        update={"request_id": derived_request_id(world.customer_id, key, submit_body(world))}
    )
    admission = await starter.submit(dev_env.client, cmd, task_queue)  # the lost first attempt
    retry = await post(api, world.customer, key, submit_body(world))
    assert retry.status_code == 201, retry.text
    assert UUID(retry.json()["id"]) == cmd.request_id == admission.request.id
    assert await count_requests(factory, world) == 1

    # And when that first workflow refused the request and has ended, the retry gets the refusal.
    refused_world = await factory.world(standing=AccountStanding(currency_set=False))
    key = f"lost-{uuid4()}"
    cmd = command(refused_world, Side.CUSTOMER).model_copy(
        update={
            "request_id": derived_request_id(
                refused_world.customer_id, key, submit_body(refused_world)
            )
        }
    )
    assert not (await starter.submit(dev_env.client, cmd, task_queue)).accepted
    retry = await post(api, refused_world.customer, key, submit_body(refused_world))
    assert_problem(retry, 422, "check_failed")


async def test_bad_keys_are_422(api, factory):
    world = await factory.world()
    for key in ("", "x" * 201, "has space"):
        response = await post(api, world.customer, key, submit_body(world))
        assert_problem(response, 422, "validation_error")
    assert await count_requests(factory, world) == 0


# --- answers that mean "not now" are not kept -------------------------------------------------


async def test_a_rate_limited_answer_is_not_kept_so_a_later_retry_runs(
    database_url, task_queue, dev_env, dev_worker, factory, pool, monkeypatch
):
    """429 `rate_limited` is not the answer to the request, only "not now": once the window has
    passed, a retry with the same key runs; and the released key may even carry another body."""
    settings = make_settings(database_url, task_queue, rate_limit_submit="1/minute")
    # One moment throughout: the window passes when the test says, not when a minute turns.
    moment = datetime.now(UTC)
    monkeypatch.setattr(guards, "now", lambda: moment)
    world = await factory.world()
    customers = [(await factory.customer())[0] for _ in range(3)]
    associations = [await factory.association(world.partner_id, c) for c in customers]

    def body(association_id) -> dict:
        return {"association_id": str(association_id), "reason": "Moving on", "acknowledged": True}

    async def window_passes() -> None:
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM rate_limits WHERE bucket = %s", (f"submit:partner:{world.partner_id}",)
            )

    async with api_client(settings, dev_env.client) as api:
        admin = world.partner_admin
        first = await post(api, admin, f"s-{uuid4()}", body(world.association_id))
        assert first.status_code == 201, first.text
        key = f"s-{uuid4()}"
        limited = await post(api, admin, key, body(associations[0]))
        assert_problem(limited, 429, "rate_limited")
        assert "idempotent-replayed" not in limited.headers
        await window_passes()
        again = await post(api, admin, key, body(associations[0]))
        assert again.status_code == 201, again.text
        assert "idempotent-replayed" not in again.headers
        replayed = await post(api, admin, key, body(associations[0]))  # now it is kept
        assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"

        # A key released after a 429 is a new key, for any body.
        other = f"s-{uuid4()}"
        assert_problem(await post(api, admin, other, body(associations[1])), 429, "rate_limited")
        await window_passes()
        fresh = await post(api, admin, other, body(associations[2]))
        assert fresh.status_code == 201, fresh.text
        assert fresh.json()["association_id"] == str(associations[2])
        assert "idempotent-replayed" not in fresh.headers


async def test_a_verification_lock_is_not_kept_so_a_retry_after_it_runs(api, factory, clock):
    """429 `verification_locked` lasts fifteen minutes; a retry with the same key after that runs
    instead of replaying the lock."""
    from tests.mfa import enrol, require_verification

    world = await factory.world()
    _, recovery = await enrol(api, world.partner_admin, clock)
    await require_verification(api, world.partner_admin)
    for _ in range(5):  # five failures lock the person's verification
        failed = await submit(
            api, world.partner_admin, world.association_id, verification_code="000000"
        )
    assert_problem(failed, 429, "verification_locked")
    key = f"locked-{uuid4()}"
    # A recovery code: the same body now and in fifteen minutes.
    body = {**submit_body(world), "verification_code": recovery[0]}
    locked = await post(api, world.partner_admin, key, body)
    assert_problem(locked, 429, "verification_locked")
    clock.at += timedelta(minutes=15, seconds=1)  # fifteen minutes later
    retry = await post(api, world.partner_admin, key, body)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await count_requests(factory, world) == 1


async def test_temporarily_unavailable_is_not_kept_so_a_retry_after_the_outage_runs(
    api, monkeypatch
):
    """503 `temporarily_unavailable` is "not now": the retry with the same key after the outage
    runs, and a key released that way is new, whatever body comes with it. (The outage is made by
    the store refusing while patched; the middleware, the route and the database are real.)"""
    from api.problems import Problem
    from store import accounts

    async def unavailable(conn, name):
        raise Problem(503, "temporarily_unavailable", "Down.", headers={"Retry-After": "5"})

    operator, path = "test-operator-token", "/v1/admin/customers"
    key, other = f"outage-{uuid4()}", f"outage-{uuid4()}"
    monkeypatch.setattr(accounts, "create_customer", unavailable)
    with RECORDER.planted():  # creating a customer never answers 503 otherwise
        assert_problem(
            await post(api, operator, key, {"name": "A"}, path), 503, "temporarily_unavailable"
        )
        assert_problem(
            await post(api, operator, other, {"name": "A"}, path), 503, "temporarily_unavailable"
        )
    monkeypatch.undo()  # the outage is over
    retry = await post(api, operator, key, {"name": "A"}, path)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    replayed = await post(api, operator, key, {"name": "A"}, path)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == retry.json()
    another_body = await post(api, operator, other, {"name": "B"}, path)
    assert another_body.status_code == 201 and another_body.json()["name"] == "B"


async def test_other_refusals_are_still_kept(api, factory):
    """Only "not now" answers are let go: a 403, 404 or 409 is the answer, and is replayed."""
    world = await factory.world()
    for token, status, code in (
        (world.partner_reader, 403, "forbidden"),
        ((await factory.world()).customer, 404, "not_found"),
    ):
        key = f"refused-{uuid4()}"
        first = await post(api, token, key, submit_body(world))
        assert_problem(first, status, code)
        again = await post(api, token, key, submit_body(world))
        assert again.status_code == status and again.headers["idempotent-replayed"] == "true"
    assert (await post(api, world.customer, f"ok-{uuid4()}", submit_body(world))).status_code == 201
    key = f"pending-{uuid4()}"
    assert_problem(await post(api, world.customer, key, submit_body(world)), 409, "request_pending")
    again = await post(api, world.customer, key, submit_body(world))
    assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"


# --- expired keys -------------------------------------------------------------------------------


async def test_a_key_past_its_time_is_new_again_even_before_it_is_purged(api, pool):
    """A key used more than ASSOCFLOW_IDEMPOTENCY_TTL ago is forgotten at once, not only when the
    housekeeping purge removes it: reused with another body, it runs as a new request."""
    operator = "test-operator-token"
    key = f"expired-{uuid4()}"
    path = "/v1/admin/customers"
    first = await post(api, operator, key, {"name": "First"}, path)
    assert first.status_code == 201, first.text
    assert_problem(
        await post(api, operator, key, {"name": "Second"}, path), 422, "idempotency_key_reused"
    )
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET started_at = now() - interval '24 hours 1 minute'"
            " WHERE caller = 'operator:bootstrap' AND key = %s",
            (key,),
        )
    second = await post(api, operator, key, {"name": "Second"}, path)
    assert second.status_code == 201, second.text
    assert "idempotent-replayed" not in second.headers
    assert second.json()["name"] == "Second" and second.json()["id"] != first.json()["id"]
    replayed = await post(api, operator, key, {"name": "Second"}, path)  # kept again from now
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == second.json()
    assert_problem(
        await post(api, operator, key, {"name": "First"}, path), 422, "idempotency_key_reused"
    )


def test_keys_are_kept_on_exactly_the_routes_the_document_says_take_one():
    """One table (api/openapi.py) says which operations take an Idempotency-Key: the document
    lists the header there, and the middleware keeps responses there and nowhere else."""
    import re

    from api.idempotency import idempotent_routes
    from server.app import create_app

    app = create_app()
    routes = idempotent_routes(app)
    posts = [(path, ops["post"]) for path, ops in app.openapi()["paths"].items() if "post" in ops]
    for path, operation in posts:
        sample = re.sub(r"\{[^}]+\}", "0f8b7c1e-3d2a-4b5c-9e8f-1a2b3c4d5e6f", path)
        takes_key = "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])]
        assert any(r.fullmatch(sample) for r in routes) == takes_key, path
    assert len(routes) == sum(
        "Idempotency-Key" in [p["name"] for p in op.get("parameters", [])] for _, op in posts
    )


async def test_a_retry_whose_first_attempt_was_accepted_meanwhile_gets_that_request(
    factory, pool, settings, dev_env, dev_worker, monkeypatch
):
    """The first attempt's API died while its workflow was accepting the request; the retry
    (same key) looked for it a moment too early, and its account check then finds it pending:
    that pending request is the retry's own, so it is answered with it, not 409."""
    from application import requests
    from application.services import Services
    from domain.types import RequestKind
    from store.accounts import PostgresStanding
    from workflows.gateway import Gateway

    world = await factory.world()
    key = f"submit-{uuid4()}"
    body = submit_body(world)
    svc = Services(
        pool, Gateway(dev_env.client, settings.task_queue), settings, PostgresStanding(pool)
    )
    customer = Principal(
        kind="customer", subject_id=str(world.customer_id), customer_id=world.customer_id,
        service=True,
    )  # fmt: skip
    first = await requests.submit(
        svc,
        customer,
        RequestKind.DISASSOCIATION,
        world.association_id,
        body["reason"],
        idempotency_key=key,
    )
    looked = requests._already_accepted
    calls = 0

    async def too_early(*args, **kwargs):
        nonlocal calls
        calls += 1
        return None if calls == 1 else await looked(*args, **kwargs)

    monkeypatch.setattr(requests, "_already_accepted", too_early)
    again = await requests.submit(
        svc,
        customer,
        RequestKind.DISASSOCIATION,
        world.association_id,
        body["reason"],
        idempotency_key=key,
    )
    assert again.id == first.id and calls == 2
    assert await count_requests(factory, world) == 1
