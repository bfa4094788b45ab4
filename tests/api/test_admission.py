"""Above capacity, a submit is refused at once with 503 and Retry-After instead of
waiting in a queue, and nothing accepted is lost: the work under way finishes, and each refused
request, sent again with its Idempotency-Key, is served.

The API here lets two submits or decisions be under way at once (ASSOCFLOW_MAX_IN_FLIGHT=2). The
account check's source of standing holds the first two submits on purpose, so that the process is
full for as long as the test needs and the burst's outcome does not depend on timing.

The ceiling is not the whole rule: after admitted work answered slower than
ASSOCFLOW_ANSWER_WITHIN, the process admits fewer than its ceiling (the second test)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from server.app import create_app
from store.accounts import PostgresStanding
from store.rows import AccountStanding
from tests.api.test_disassociations import assert_problem
from tests.api.test_idempotency import submit_body
from tests.conftest import _LifespanClient, make_settings
from tests.factories import bearer

pytestmark = pytest.mark.devserver

CAPACITY = 2
BURST = 6


class HeldStanding:
    """PostgreSQL's standing, held while `hold` is set: the submits that reach the account check
    wait there, keeping their places, until `release`. `full` is set when `full_at` are held."""

    def __init__(self, pool, full_at: int = CAPACITY) -> None:
        self._inner = PostgresStanding(pool)
        self.hold = False
        self.held = 0
        self.full_at = full_at
        self._released = asyncio.Event()
        self.full = asyncio.Event()

    async def standing(self, customer_id: UUID) -> AccountStanding:
        if self.hold:
            self.held += 1
            if self.held == self.full_at:
                self.full.set()
            await self._released.wait()
        return await self._inner.standing(customer_id)

    def hold_until_released(self, full_at: int) -> None:
        """Hold the next submits again, counting afresh."""
        self.hold, self.held, self.full_at = True, 0, full_at
        self._released, self.full = asyncio.Event(), asyncio.Event()

    def release(self) -> None:
        self.hold = False
        self._released.set()


async def submit(api, world, key: str):
    return await api.post(
        "/v1/disassociations",
        json=submit_body(world),
        headers={**bearer(world.customer), "Idempotency-Key": key},
    )


async def served_when_sent_again(api, worlds, keys, first_answers) -> None:
    """Each submit refused at first, sent again with its Idempotency-Key, is served."""
    again = [
        await submit(api, world, key)
        for world, key, first in zip(worlds, keys, first_answers, strict=True)
        if first.status_code == 503
    ]
    assert [response.status_code for response in again] == [201] * len(again)


async def answered(tasks: list[asyncio.Task], count: int) -> None:
    """Until `count` of `tasks` have their answer."""
    while sum(task.done() for task in tasks) < count:
        waiting = [task for task in tasks if not task.done()]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)


@pytest.fixture
async def busy_api(database_url, task_queue, pool, dev_env, dev_worker):
    standing = HeldStanding(pool)
    settings = make_settings(
        database_url, task_queue, operator_token="test-operator-token", max_in_flight=CAPACITY
    )
    app = create_app(settings, temporal=dev_env.client, standing=standing)
    async with _LifespanClient(app) as client:
        yield client, standing


async def test_a_burst_beyond_capacity_is_refused_at_once_and_nothing_accepted_is_lost(
    busy_api, factory
):
    api, standing = busy_api
    pending_world = await factory.world()
    pending = await api.post(
        "/v1/disassociations",
        json=submit_body(pending_world),
        headers=bearer(pending_world.customer),
    )
    assert pending.status_code == 201, pending.text
    worlds = [await factory.world() for _ in range(BURST)]
    keys = [str(uuid.uuid4()) for _ in worlds]

    standing.hold = True
    burst = [asyncio.create_task(submit(api, w, k)) for w, k in zip(worlds, keys, strict=True)]
    # Two submits hold the process's places; every other one is answered without waiting.
    await asyncio.wait_for(standing.full.wait(), 15)
    await asyncio.wait_for(answered(burst, BURST - CAPACITY), 15)
    assert standing.held == CAPACITY
    refused = [t.result() for t in burst if t.done()]
    for response in refused:
        body = assert_problem(response, 503, "temporarily_unavailable")
        assert response.headers["retry-after"] == "1"
        assert "nothing was done" in body["detail"]
    # A decision on a request accepted before still has its place: it finishes admitted work.
    decided = await api.post(
        f"/v1/disassociations/{pending.json()['id']}/agree",
        json={"reason": "Fine"},
        headers=bearer(pending_world.partner_admin),
    )
    assert decided.status_code == 200, decided.text

    # The work under way finishes; each refused request, sent again, is served.
    standing.release()
    results = await asyncio.gather(*burst)
    assert sorted(r.status_code for r in results) == [201] * CAPACITY + [503] * (BURST - CAPACITY)
    await served_when_sent_again(api, worlds, keys, results)
    # One request per association, each pending: none lost, none twice.
    rows = await factory.fetch(
        "SELECT association_id, status FROM requests WHERE association_id = ANY(%s)",
        [w.association_id for w in worlds],
    )
    assert sorted(str(r["association_id"]) for r in rows) == sorted(
        str(w.association_id) for w in worlds
    )
    assert {r["status"] for r in rows} == {"pending"}


ANSWER_WITHIN = 0.2  # seconds
ROOMY = 4


@pytest.fixture
async def learning_api(database_url, task_queue, pool, dev_env, dev_worker):
    standing = HeldStanding(pool)
    settings = make_settings(
        database_url,
        task_queue,
        max_in_flight=ROOMY,
        answer_within=timedelta(seconds=ANSWER_WITHIN),
    )
    app = create_app(settings, temporal=dev_env.client, standing=standing)
    async with _LifespanClient(app) as client:
        yield client, standing, app


async def test_after_slow_answers_the_api_admits_fewer_submits_than_its_ceiling(
    learning_api, factory
):
    api, standing, app = learning_api

    async def held_burst(worlds, keys, held):
        standing.hold_until_released(full_at=held)
        burst = [asyncio.create_task(submit(api, w, k)) for w, k in zip(worlds, keys, strict=True)]
        await asyncio.wait_for(standing.full.wait(), 15)
        await asyncio.wait_for(answered(burst, len(burst) - held), 15)
        return burst

    # Four submits, the ceiling, all admitted; each answers well after ANSWER_WITHIN.
    slow = [await factory.world() for _ in range(ROOMY)]
    slow_keys = [str(uuid.uuid4()) for _ in slow]
    burst = await held_burst(slow, slow_keys, held=ROOMY)
    await asyncio.sleep(ANSWER_WITHIN * 2)
    standing.release()
    assert [r.status_code for r in await asyncio.gather(*burst)] == [201] * ROOMY
    places = app.state.services.in_flight.limit.places
    assert 1 <= places < ROOMY  # cut at least once, however the four answers fell in time
    metrics = (await api.get("/metrics")).text
    assert f"assocflow_admission_limit {float(places)}" in metrics

    # The same burst again: only the places of the moment are admitted, the rest refused at once.
    worlds = [await factory.world() for _ in range(ROOMY)]
    keys = [str(uuid.uuid4()) for _ in worlds]
    burst = await held_burst(worlds, keys, held=places)
    assert standing.held == places
    for refused in [t.result() for t in burst if t.done()]:
        assert_problem(refused, 503, "temporarily_unavailable")
        assert refused.headers["retry-after"] == "1"
    standing.release()
    results = await asyncio.gather(*burst)
    assert sorted(r.status_code for r in results) == [201] * places + [503] * (ROOMY - places)
    await served_when_sent_again(api, worlds, keys, results)  # nothing lost
