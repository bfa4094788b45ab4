"""Faults with 50 requests in flight through two APIs and two workers: a worker killed,
PostgreSQL stopped fast or immediately or restarted, the Temporal server killed and restarted on
its state, an API killed while clients retry with the same Idempotency-Key. Afterwards PostgreSQL
holds exactly what the 50 requests should leave behind: nothing lost, nothing twice.

Every answer a client got is counted too. Through a PostgreSQL fault no process dies, so none may
be a 5xx other than 503 `temporarily_unavailable`, nor a dropped connection; and every call sent
once PostgreSQL accepts connections again succeeds."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import timedelta

import psycopg
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from assocflow.settings import Settings
from assocflow.temporal import connect
from contract import SubmitCommand
from devstack.stack import Stack
from domain.types import Actor, AssociationType, Side
from store.db import migrate, open_pool
from tests.keepalive import Dropped, KeepAliveClient
from tests.reliability.harness import (
    DROPPED,
    REFUSED,
    Attempt,
    RetryingClient,
    counts,
    make_scenario,
    record_figures,
    tally,
)
from workflows import starter

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

APIS, WORKERS = ("api", "api-2"), ("worker", "worker-2")

AGREED, REJECTED, TIMED_OUT = 20, 20, 10  # 50 in flight
EXPECTED = {
    "requests_by_status": {"agreed": AGREED, "rejected": REJECTED, "auto_agreed": TIMED_OUT},
    "associations_by_status": {"ended": AGREED + TIMED_OUT, "active": REJECTED},
    "records_by_action": {
        "association:associated": 50,
        "disassociation:requested": 50,
        "disassociation:agreed": AGREED,
        "disassociation:rejected": REJECTED,
        "disassociation:auto_agreed": TIMED_OUT,
        "association:ended": AGREED + TIMED_OUT,
    },
    "notifications_by_event": {
        "disassociation.requested": 50,  # to the counterpart
        "disassociation.agreed": 2 * AGREED,  # to both sides
        "disassociation.rejected": 2 * REJECTED,
        "disassociation.auto_agreed": 2 * TIMED_OUT,
        "association.ended": 2 * (AGREED + TIMED_OUT),
    },
    "associations_ended_twice": 0,
}


@pytest.fixture(scope="module")
async def stack(tmp_path_factory):
    stack = Stack(
        tmp_path_factory.mktemp("faults"),
        settings={"response_window": "PT120S", "reminder_before": "PT0S"},
    )
    stack.start_postgres()
    await migrate(stack.database_url)
    stack.start_temporal()
    for name in (*WORKERS, *APIS):
        stack.start(name)
    yield stack
    stack.stop_all()


@pytest.fixture(scope="module")
async def stack_pool(stack):
    pool = await open_pool(stack.database_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def temporal(stack) -> Client:
    return await connect(Settings(temporal_address=stack.temporal_address))


def short_command(scenario, party) -> SubmitCommand:
    """A customer-initiated request with a five-second window, started the way the API starts
    one: it ends by timing out (auto-agreed)."""
    import uuid

    policy = Settings(response_window=timedelta(seconds=5), reminder_before=timedelta(0)).policy()
    return SubmitCommand(
        request_id=uuid.uuid4(),
        association_id=party.association_id,
        partner_id=scenario.partner_id,
        customer_id=party.customer_id,
        partner_name="reseller",
        customer_name="customer",
        association_type=AssociationType.RESALE,
        initiator=Side.CUSTOMER,
        requested_by=Actor(kind="customer", id=str(party.customer_id), side=Side.CUSTOMER),
        reason="timing out",
        policy=policy,
    )


async def run_with_fault(stack, pool, temporal, fault, name: str) -> None:
    """Run the 50 with `fault` injected; the fault returns when the part it broke is back (the
    monotonic time it came back, for a PostgreSQL fault)."""
    scenario = await make_scenario(pool, 50)
    agreeing, rejecting, timing_out = (
        scenario.parties[:AGREED],
        scenario.parties[AGREED : AGREED + REJECTED],
        scenario.parties[AGREED + REJECTED :],
    )
    client = RetryingClient([stack.url_of(api) for api in APIS])
    started = time.monotonic()

    def body(party):
        return {
            "association_id": str(party.association_id),
            "reason": "fault test",
            "acknowledged": True,
        }

    async def submit(party, token):
        response = await client.post("/v1/disassociations", token, body(party))
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def start_timing_out(party):
        cmd = short_command(scenario, party)
        while True:
            try:
                return await starter.start(temporal, cmd, stack.task_queue)
            except RPCError:  # the server is down: try again, as a caller would
                client.counters.retries += 1
                await asyncio.sleep(0.25)

    probing_done = asyncio.Event()
    probes = [
        asyncio.create_task(probe(stack.url_of(api), scenario.partner_token, probing_done))
        for api in APIS
    ]
    faulting = asyncio.create_task(fault(stack))
    by_customer, by_partner, _ = await asyncio.gather(
        asyncio.gather(*(submit(p, p.customer_token) for p in agreeing)),
        asyncio.gather(*(submit(p, scenario.partner_token) for p in rejecting)),
        asyncio.gather(*(start_timing_out(p) for p in timing_out)),
    )
    decisions = await asyncio.gather(
        *(
            client.post(f"/v1/disassociations/{r}/agree", scenario.partner_token)
            for r in by_customer
        ),
        *(
            client.post(f"/v1/disassociations/{r}/reject", p.customer_token, {"reason": "no"})
            for r, p in zip(by_partner, rejecting, strict=True)
        ),
    )
    for response in decisions:  # the decision applied once, whichever attempt was answered
        assert response.status_code == 200 or (
            response.status_code == 409
            and response.json()["request_status"] in ("agreed", "rejected")
        ), response.text
    recovered_at = await faulting
    await asyncio.sleep(PROBE_AFTER)
    probing_done.set()
    probed = [attempt for attempts in await asyncio.gather(*probes) for attempt in attempts]

    for _ in range(600):
        try:
            got = await counts(pool, scenario)
        except psycopg.OperationalError:  # the outage cut this test's own connections too
            await asyncio.sleep(0.2)
            continue
        if (
            got["requests_by_status"].get("pending", 0) == 0
            and sum(got["requests_by_status"].values()) == 50
        ):
            break
        await asyncio.sleep(0.2)
    assert got == EXPECTED
    workflows = [w async for w in temporal.list_workflows(f"PartnerId = '{scenario.partner_id}'")]
    assert len(workflows) == 50
    activity_retries = 0
    for execution in workflows:
        handle = temporal.get_workflow_handle(execution.id)
        assert (await handle.describe()).status.name == "COMPLETED"
        history = await handle.fetch_history()
        activity_retries += sum(
            event.activity_task_started_event_attributes.attempt - 1
            for event in history.events
            if event.HasField("activity_task_started_event_attributes")
        )
    answers = client.tally()
    reads = tally(probed)
    if name.startswith("postgres"):
        assert_answered_properly([*client.attempts, *probed], recovered_at)
    record_figures(
        name,
        requests_in_flight=50,
        faults_injected=1,
        apis=len(APIS),
        workers=len(WORKERS),
        client_calls=client.counters.calls,
        client_retries=client.counters.retries,
        answers=answers,
        reads_during_fault=reads,
        activity_retries=activity_retries,
        requests=sum(got["requests_by_status"].values()),
        lost=0,
        duplicated=0,
        seconds_to_all_settled=round(time.monotonic() - started, 1),
    )
    await client.aclose()


def assert_answered_properly(attempts: list[Attempt], recovered_at: float) -> None:
    """No process died: every answer is a proper one (no 5xx but 503 `temporarily_unavailable`,
    no dropped connection), and every call sent once PostgreSQL was back succeeded."""
    improper = [
        a
        for a in attempts
        if a.outcome in (DROPPED, REFUSED)
        or (isinstance(a.outcome, int) and a.outcome >= 500 and a.code != "temporarily_unavailable")
    ]
    assert improper == [], tally(attempts)
    after = [a for a in attempts if a.sent_at >= recovered_at]
    failed_after = [a for a in after if not isinstance(a.outcome, int) or a.outcome >= 500]
    assert after and failed_after == [], (len(after), failed_after)


# The readers go on this long after the fault is over.
PROBE_AFTER = 2.0
PROBE_EVERY = 0.05


async def probe(base_url: str, token: str, done: asyncio.Event) -> list[Attempt]:
    """A partner reading its requests through one API every 50 ms, on one keep-alive connection
    (a new one only after the server dropped it), while the fault runs; every answer kept."""
    attempts: list[Attempt] = []
    while not done.is_set():
        reader = KeepAliveClient(base_url, {"Authorization": f"Bearer {token}"})
        try:
            await reader.connect()
        except OSError:  # nothing listens: the process is dead
            attempts.append(Attempt(time.monotonic(), base_url, REFUSED))
            await asyncio.sleep(PROBE_EVERY)
            continue
        async with reader:
            while not done.is_set():
                sent_at = time.monotonic()
                try:
                    answer = await reader.request("GET", "/v1/disassociations?limit=5")
                except Dropped:
                    attempts.append(Attempt(sent_at, base_url, DROPPED))
                    break
                code = answer.json().get("code") if answer.status >= 400 else None
                attempts.append(Attempt(sent_at, base_url, answer.status, code))
                await asyncio.sleep(PROBE_EVERY)
    return attempts


async def kill_worker(stack):
    await asyncio.sleep(0.5)  # submits and acceptances under way
    stack.kill("worker")  # the other worker goes on
    await asyncio.sleep(2)
    stack.restart("worker")


OUTAGE = 3.0  # seconds PostgreSQL stays down


async def postgres_stopped(stack, mode: str) -> float:
    """Stopped "fast" (every session told AdminShutdown and closed) or "immediate" (as in a
    crash: it recovers from its WAL when started); back 3 s later."""
    await asyncio.sleep(0.3)  # submits, acceptances and decisions under way
    await asyncio.to_thread(stack.stop_postgres, mode)
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(stack.restart_postgres)
    return time.monotonic()


async def postgres_restarted(stack) -> float:
    """A restart in one step (an upgrade, a failover), while requests are in flight."""
    await asyncio.sleep(0.3)
    await asyncio.to_thread(stack.bounce_postgres)
    return time.monotonic()


async def restart_temporal(stack):
    await asyncio.sleep(0.3)  # submits waiting on their workflows
    stack.kill("temporal")
    await asyncio.sleep(3)
    await asyncio.to_thread(stack.restart, "temporal")


async def restart_api(stack):
    await asyncio.sleep(0.3)  # submits in flight through the API
    stack.kill("api")  # the other API goes on
    await asyncio.sleep(1)
    await asyncio.to_thread(stack.restart, "api")


@pytest.mark.parametrize(
    "fault",
    [
        kill_worker,
        functools.partial(postgres_stopped, mode="fast"),
        functools.partial(postgres_stopped, mode="immediate"),
        postgres_restarted,
        restart_temporal,
        restart_api,
    ],
    ids=[
        "worker_sigkilled",
        "postgres_stopped_fast",
        "postgres_stopped_immediately",
        "postgres_restarted",
        "temporal_restarted",
        "api_restarted",
    ],
)
async def test_nothing_is_lost_or_applied_twice(stack, stack_pool, temporal, fault, request):
    await run_with_fault(stack, stack_pool, temporal, fault, request.node.callspec.id)
