"""Idempotency-Key: retries get the first response, other bodies are refused, keys belong to
their caller and outlive 24 hours, and concurrent retries make one request."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4, uuid5

import pytest

from api.routers.disassociations import _REQUEST_IDS
from domain.types import AccountStanding, Side
from store import idempotency
from tests.api.test_disassociations import assert_problem
from tests.factories import bearer, command
from workflows import starter

pytestmark = pytest.mark.devserver


def submit_body(world, reason="Moving on") -> dict:
    return {"association_id": str(world.association_id), "reason": reason, "acknowledged": True}


async def post(api, token, key, body, path="/v1/disassociations"):
    return await api.post(path, json=body, headers={**bearer(token), "Idempotency-Key": key})


async def count_requests(factory, world) -> int:
    return await factory.count(
        "SELECT count(*) FROM disassociation_requests WHERE association_id = %s",
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
    other_route = await post(
        api, world.customer, key, {"purpose": "disassociation.submit"}, "/v1/verification-codes"
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
        update={"request_id": uuid5(_REQUEST_IDS, f"customer:{world.customer_id}:{key}")}
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
        update={"request_id": uuid5(_REQUEST_IDS, f"customer:{refused_world.customer_id}:{key}")}
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
