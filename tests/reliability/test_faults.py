"""Faults with 50 requests in flight through two APIs and two workers, disassociations and
association type changes among them: a worker killed, PostgreSQL stopped fast or immediately or
restarted, the Temporal server killed and restarted on its state, an API killed while clients
retry with the same Idempotency-Key. Afterwards PostgreSQL holds exactly what the 50 requests
should leave behind: nothing lost, nothing twice; each agreed type change changed its
association's type once and nothing else changed a type; no request stayed pending long past its
deadline.

Every answer a client got is counted too. Through a PostgreSQL fault no process dies, so none may
be a 5xx other than 503 `temporarily_unavailable`, nor a dropped connection; and every call sent
once PostgreSQL accepts connections again succeeds."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.service import RPCError

from assocflow.settings import Settings
from assocflow.temporal import connect
from contract import REQUEST_WORKFLOW, SubmitCommand
from devstack.stack import Stack
from domain.types import Actor, AssociationType, RequestKind, Side, workflow_id_for
from store.db import migrate, open_pool
from tests.keepalive import Dropped, KeepAliveClient
from tests.reliability.harness import (
    DROPPED,
    NEW_TYPE,
    PATHS,
    REFUSED,
    Attempt,
    Party,
    RetryingClient,
    Scenario,
    counts,
    expected_counts,
    make_scenario,
    record_figures,
    submit_body,
    tally,
)
from workflows import starter

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

APIS, WORKERS = ("api", "api-2"), ("worker", "worker-2")

DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE
# 50 in flight, each on an association of its own: of each kind, some agreed (asked by the
# customer, agreed by the partner), some rejected (asked by the partner, rejected by the
# customer), some left to their deadline (asked by the customer, started on a short window).
LOAD = {
    DISASSOCIATION: {"agreed": 14, "rejected": 14, "timed_out": 7},
    TYPE_CHANGE: {"agreed": 6, "rejected": 6, "timed_out": 3},
}
IN_FLIGHT = sum(sum(plans.values()) for plans in LOAD.values())
# A customer's disassociation left to its deadline is agreed; a type change expires, whoever
# asked for it.
ON_DEADLINE = {DISASSOCIATION: "auto_agreed", TYPE_CHANGE: "expired"}
EXPECTED = expected_counts(
    IN_FLIGHT,
    {
        kind: {ON_DEADLINE[kind] if plan == "timed_out" else plan: n for plan, n in plans.items()}
        for kind, plans in LOAD.items()
    },
)
# The longest a request may be seen pending past its deadline: a timer's workflow task lost with
# a killed worker is handed out again after its 10 s timeout; a PostgreSQL outage of OUTAGE
# seconds or a Temporal restart delays the settling step by its backoff.
OVERDUE_AT_MOST = 20.0


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


def short_command(scenario: Scenario, party: Party, kind: RequestKind) -> SubmitCommand:
    """A customer-initiated request of `kind` with a five-second window, started the way the API
    starts one: it ends by its deadline (auto-agreed, or expired for a type change)."""
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
        kind=kind,
        new_type=AssociationType(NEW_TYPE) if kind is TYPE_CHANGE else None,
    )


async def run_with_fault(stack, pool, temporal, fault, name: str) -> None:
    """Run the 50 with `fault` injected; the fault returns when the part it broke is back (the
    monotonic time it came back, for a PostgreSQL fault)."""
    scenario = await make_scenario(pool, IN_FLIGHT)
    parties = iter(scenario.parties)
    plans = [
        (kind, plan, next(parties))
        for kind, counted in LOAD.items()
        for plan, n in counted.items()
        for _ in range(n)
    ]
    client = RetryingClient([stack.url_of(api) for api in APIS])
    started = time.monotonic()

    async def lifecycle(kind: RequestKind, plan: str, party: Party) -> str:
        """Submit and decide one request as `plan` says, through the APIs; its request id."""
        if plan == "timed_out":
            return await start_timing_out(kind, party)
        asker, answerer, action, body = {
            "agreed": (party.customer_token, scenario.partner_token, "agree", None),
            "rejected": (scenario.partner_token, party.customer_token, "reject", {"reason": "no"}),
        }[plan]
        submitted = await client.post(PATHS[kind], asker, submit_body(kind, party.association_id))
        assert submitted.status_code == 201, submitted.text
        request_id = submitted.json()["id"]
        decided = await client.post(f"{PATHS[kind]}/{request_id}/{action}", answerer, body)
        # The decision applied once, whichever attempt was answered.
        assert decided.status_code == 200 or (
            decided.status_code == 409 and decided.json()["request_status"] == plan
        ), decided.text
        return request_id

    async def start_timing_out(kind: RequestKind, party: Party) -> str:
        cmd = short_command(scenario, party, kind)
        while True:
            try:
                await starter.start(temporal, cmd, stack.task_queue)
                return str(cmd.request_id)
            except RPCError:  # the server is down: try again, as a caller would
                client.counters.retries += 1
                await asyncio.sleep(0.25)

    probing_done, settled = asyncio.Event(), asyncio.Event()
    probes = [
        asyncio.create_task(probe(stack.url_of(api), scenario.partner_token, probing_done))
        for api in APIS
    ]
    watching = asyncio.create_task(longest_overdue(pool, scenario, settled))
    faulting = asyncio.create_task(fault(stack))
    request_ids = await asyncio.gather(*(lifecycle(*plan) for plan in plans))
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
            and sum(got["requests_by_status"].values()) == IN_FLIGHT
        ):
            break
        await asyncio.sleep(0.2)
    settled.set()
    overdue = await watching
    assert got == EXPECTED
    assert overdue <= OVERDUE_AT_MOST, f"a request was pending {overdue:.1f}s past its deadline"
    workflows = [w async for w in temporal.list_workflows(f"PartnerId = '{scenario.partner_id}'")]
    # One workflow per request, of the one type, its id naming the request's kind.
    assert sorted(w.id for w in workflows) == sorted(
        workflow_id_for(kind, uuid.UUID(request_id))
        for (kind, _, _), request_id in zip(plans, request_ids, strict=True)
    )
    assert {w.workflow_type for w in workflows} == {REQUEST_WORKFLOW}
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
        requests_in_flight=IN_FLIGHT,
        type_changes_in_flight=sum(LOAD[TYPE_CHANGE].values()),
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
        longest_pending_past_deadline=round(overdue, 1),
        seconds_to_all_settled=round(time.monotonic() - started, 1),
    )
    await client.aclose()


async def longest_overdue(
    pool: AsyncConnectionPool, scenario: Scenario, settled: asyncio.Event
) -> float:
    """The longest any of the scenario's requests was seen pending past its `respond_by`, in
    seconds, looking every 0.2 s until `settled`."""
    ids = [p.association_id for p in scenario.parties]
    longest = 0.0
    while not settled.is_set():
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT coalesce(extract(epoch FROM max(now() - respond_by)), 0)::float"
                    " FROM requests WHERE association_id = ANY(%s) AND status = 'pending'",
                    (ids,),
                )
                row = await cur.fetchone()
            assert row is not None
            longest = max(longest, row[0])
        except psycopg.OperationalError:  # PostgreSQL is down: looked at again once it is back
            pass
        await asyncio.sleep(0.2)
    return longest


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
    """A partner reading its requests (of each kind in turn) through one API every 50 ms, on one
    keep-alive connection (a new one only after the server dropped it), while the fault runs;
    every answer kept."""
    attempts: list[Attempt] = []
    reads = 0
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
                sent_at, reads = time.monotonic(), reads + 1
                path = PATHS[(DISASSOCIATION, TYPE_CHANGE)[reads % 2]]
                try:
                    answer = await reader.request("GET", f"{path}?limit=5")
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
