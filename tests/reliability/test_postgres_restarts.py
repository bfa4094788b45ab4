"""PostgreSQL restarts under running processes: two API processes and a worker on a PostgreSQL of
their own, stopped fast (every session told AdminShutdown) or immediately (as in a crash).

While it is down, every answer is a 503 `temporarily_unavailable` with Retry-After (a page in
words on the console), on the same keep-alive connection; once it is back, the very next request
to each API succeeds, `/readyz` is ready within 2 s, and a retry of a POST whose API process died
is answered at once, not after the dead process's claim on its Idempotency-Key expires.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from devstack import services
from devstack.stack import OPERATOR_TOKEN, Stack
from store.db import CHECKOUT_TIMEOUT, migrate, open_pool
from tests.keepalive import KeepAliveClient
from tests.processes import WORKER_READY
from tests.reliability.harness import make_scenario, record_figures

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

APIS = ("api", "api-2")
MODES = ["fast", "immediate"]
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
# The console's session cookie, naming no session: the page must look it up in PostgreSQL.
SOME_SESSION = {"Cookie": "assocflow_session=not-a-session"}
READY_WITHIN = 2.0
SEQUENTIAL = 24


@pytest.fixture(scope="module")
async def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("restarts"), temporal_state_file=False)
    stack.start_postgres()
    await migrate(stack.database_url)
    stack.start_temporal()
    stack.start("worker")
    for api in APIS:
        stack.start(api)
    yield stack
    stack.stop_all()


async def warm_up(stack: Stack) -> None:
    """Each API's pool holds several connections, as under traffic: all of them die in a restart."""
    async with httpx.AsyncClient(headers=OPERATOR, timeout=30) as http:
        for api in APIS:
            answers = await asyncio.gather(
                *(http.get(f"{stack.url_of(api)}/v1/admin/partners") for _ in range(8))
            )
            assert {a.status_code for a in answers} == {200}


@pytest.mark.parametrize("mode", MODES)
async def test_a_pool_never_hands_out_a_connection_the_restart_closed(stack, mode):
    pool = await open_pool(stack.database_url, min_size=5, max_size=5)
    try:
        await asyncio.to_thread(stack.stop_postgres, mode)
        await asyncio.to_thread(stack.restart_postgres)
        for _ in range(SEQUENTIAL):  # each of the five dead ones would have failed a statement
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
    finally:
        await pool.close()


async def outage_answers(client: KeepAliveClient) -> None:
    """What each kind of caller is told while PostgreSQL is down, on one keep-alive connection."""
    started = time.monotonic()
    read = await client.request("GET", "/v1/admin/partners")
    assert read.status == 503, read.body
    assert read.json()["code"] == "temporarily_unavailable"
    assert read.headers["content-type"] == "application/problem+json"
    assert int(read.headers["retry-after"]) > 0
    # Within the pool's wait for a connection, not psycopg_pool's default 30 s.
    assert time.monotonic() - started < CHECKOUT_TIMEOUT + 2

    write = await client.request(
        "POST",
        "/v1/admin/customers",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json_body={"name": "Not now"},
    )
    assert write.status == 503 and write.json()["code"] == "temporarily_unavailable"

    ready = await client.request("GET", "/readyz")
    assert ready.status == 503 and ready.json()["code"] == "not_ready"
    assert ready.json()["checks"]["postgres"].startswith("unavailable")

    page = await client.request("GET", "/console/customers", headers=SOME_SESSION)
    assert page.status == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "temporarily unavailable" in page.body.decode().lower()
    assert int(page.headers["retry-after"]) > 0


@pytest.mark.parametrize("mode", MODES)
async def test_after_a_restart_every_api_serves_the_very_next_request(stack, mode):
    """`api` is sent nothing while PostgreSQL is down: its pool still holds the connections the
    restart closed when the next request comes. `api-2` answers every kind of caller during the
    outage, so its pool is reconnecting when PostgreSQL comes back."""
    await warm_up(stack)
    async with KeepAliveClient(stack.url_of("api-2"), OPERATOR) as busy:
        assert (await busy.request("GET", "/v1/admin/partners")).status == 200
        await asyncio.to_thread(stack.stop_postgres, mode)
        await outage_answers(busy)
        await asyncio.to_thread(stack.restart_postgres)
        back = time.monotonic()
        # A new connection to `api`: the server closes one kept idle this long (uvicorn's
        # keep-alive timeout), which says nothing of PostgreSQL.
        async with KeepAliveClient(stack.url_of("api"), OPERATOR) as idle:

            async def ready_after() -> float:
                while (await busy.request("GET", "/readyz")).status != 200:
                    assert time.monotonic() - back < READY_WITHIN, "not ready 2 s after PostgreSQL"
                    await asyncio.sleep(0.05)
                return time.monotonic() - back

            async def sequential(client: KeepAliveClient) -> list[int]:
                return [
                    (await client.request("GET", "/v1/admin/partners")).status
                    for _ in range(SEQUENTIAL)
                ]

            statuses, ready_in = await asyncio.gather(sequential(idle), ready_after())
            assert statuses == [200] * SEQUENTIAL
            assert await sequential(busy) == [200] * SEQUENTIAL
            # Nothing above was answered by closing the connection: each client used one.
            assert idle.connections == busy.connections == 1
    record_figures(
        f"postgres_restart_{mode}",
        apis=len(APIS),
        sequential_after_restart=SEQUENTIAL,
        failed_after_restart=0,
        dropped_connections=0,
        seconds_until_ready=round(ready_in, 2),
    )


async def test_a_retry_whose_api_died_is_answered_at_once(stack):
    """The first attempt's API process is SIGKILLed while its submit waits on the workflow; the
    retry, with the same key, through the other API, runs at once."""
    pool = await open_pool(stack.database_url, max_size=2)
    try:
        scenario = await make_scenario(pool, 1)
        [party] = scenario.parties
        headers = {
            "Authorization": f"Bearer {party.customer_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        body = {
            "association_id": str(party.association_id),
            "reason": "moving",
            "acknowledged": True,
        }
        # The submit now waits for a worker to accept it. (Stopped cleanly: a SIGKILLed worker's
        # polls would live on in the server, which hands a task to one of them and waits out the
        # task's timeout, 10 s, before handing it out again.)
        stack.stop("worker")
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            first = asyncio.create_task(
                http.post(f"{stack.url_of('api')}/v1/disassociations", json=body)
            )
            await until_claimed(pool, headers["Idempotency-Key"])
            stack.kill("api")
            with pytest.raises(httpx.TransportError):
                await first

            log = stack.workdir / "worker.log"
            offset = log.stat().st_size
            stack.start("worker")
            await asyncio.to_thread(
                services.wait_for_log_line, log, WORKER_READY, offset, timeout=60
            )
            started = time.monotonic()
            retry = await http.post(f"{stack.url_of('api-2')}/v1/disassociations", json=body)
            answered_in = time.monotonic() - started
        assert retry.status_code == 201, retry.text
        assert answered_in < 2.0, f"the retry waited {answered_in:.1f}s for a dead process's claim"
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM requests WHERE association_id = %s",
                (party.association_id,),
            )
            assert await cur.fetchone() == (1,)
        record_figures("retry_after_api_death", seconds_to_answer=round(answered_in, 2))
    finally:
        await pool.close()
        if "api" not in stack.procs:
            stack.start("api")


async def until_claimed(pool, key: str) -> None:
    """Until a request has claimed Idempotency-Key `key` (its API is running it)."""
    for _ in range(600):
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM idempotency_keys WHERE key = %s", (key,))
            if await cur.fetchone() is not None:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no request claimed {key} within 30 s")
