"""Faults with 62 requests in flight through two APIs and two workers, disassociations,
association type changes and partner changes among them: a worker killed, PostgreSQL stopped
fast or immediately or restarted, the Temporal server killed and restarted on its state, an API
killed while clients retry with the same Idempotency-Key. Afterwards PostgreSQL holds exactly what
the 62 requests should leave behind: nothing lost, nothing twice; each agreed type change changed
its association's type once and nothing else changed a type; each completed partner change ended
its customer's association and began the one with the new partner once, and nothing else began
one; no request stayed pending long past its deadline.

Throughout, a reader looks at PostgreSQL every few milliseconds: no customer asking to move is
ever seen with no active association, nor with two.

Every answer a client got is counted too. Through a PostgreSQL fault no process dies, so none may
be a 5xx other than 503 `temporarily_unavailable`, nor a dropped connection; and every call sent
once PostgreSQL accepts connections again succeeds."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import Counter
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
from tests.conftest import ADMITS_ANYTHING
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
    one_active_association_throughout,
    record_figures,
    submit_body,
    tally,
)
from workflows import starter

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

APIS, WORKERS = ("api", "api-2"), ("worker", "worker-2")

DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE
PARTNER_CHANGE = RequestKind.PARTNER_CHANGE
# 62 in flight, each on an association of its own: of each kind, some agreed (asked by the
# customer, agreed by the partner), some rejected (asked by the partner, rejected by the
# customer), some left to their deadline (asked by the customer, started on a short window).
# Partner changes, all asked by the customer: some completed (both partners consent, one after
# the other, in either order), some rejected (after the new partner's acceptance), some declined
# (after the current partner's agreement), some left to the deadline with the new partner's
# acceptance only (completed then), some without an answer (expired).
LOAD = {
    DISASSOCIATION: {"agreed": 14, "rejected": 14, "timed_out": 7},
    TYPE_CHANGE: {"agreed": 6, "rejected": 6, "timed_out": 3},
    PARTNER_CHANGE: {
        "completed": 4, "rejected": 2, "declined": 2, "accepted_then_timed_out": 2,
        "timed_out": 2,
    },
}  # fmt: skip
IN_FLIGHT = sum(sum(plans.values()) for plans in LOAD.values())
# A customer's disassociation left to its deadline is agreed; a type change expires, whoever
# asked for it; a partner change expires, unless the new partner accepted (then it completes).
ON_DEADLINE = {DISASSOCIATION: "auto_agreed", TYPE_CHANGE: "expired", PARTNER_CHANGE: "expired"}
OUTCOME = {"accepted_then_timed_out": "completed"}
# A partner change's first consent, given while the other is awaited, is recorded on its own:
# one of each completed one's two, the acceptance a rejection follows, the agreement a decline
# follows, the acceptance the deadline completes.
CONSENTS = {
    "agreed": LOAD[PARTNER_CHANGE]["completed"] // 2 + LOAD[PARTNER_CHANGE]["declined"],
    "accepted": LOAD[PARTNER_CHANGE]["completed"] // 2 + LOAD[PARTNER_CHANGE]["rejected"]
    + LOAD[PARTNER_CHANGE]["accepted_then_timed_out"],
}  # fmt: skip


def outcome(kind: RequestKind, plan: str) -> str:
    return ON_DEADLINE[kind] if plan == "timed_out" else OUTCOME.get(plan, plan)


SETTLED: dict[RequestKind, Counter[str]] = {
    kind: sum((Counter({outcome(kind, plan): n}) for plan, n in plans.items()), Counter())
    for kind, plans in LOAD.items()
}
EXPECTED = expected_counts(IN_FLIGHT, {k: dict(c) for k, c in SETTLED.items()}, CONSENTS)
# A partner change the new partner accepts and leaves to the deadline gets this long: its
# acceptance must be taken before it, through any of the faults (a killed worker's workflow
# task is handed out again after 10 s).
ACCEPTED_WINDOW = timedelta(seconds=15)
# The longest a request may be seen pending past its deadline: a timer's workflow task lost with
# a killed worker is handed out again after its 10 s timeout; a PostgreSQL outage of OUTAGE
# seconds or a Temporal restart delays the settling step by its backoff.
OVERDUE_AT_MOST = 20.0


@pytest.fixture(scope="module")
async def stack(tmp_path_factory):
    stack = Stack(
        tmp_path_factory.mktemp("faults"),
        settings={
            "response_window": "PT120S",
            "reminder_before": "PT0S",
            # the clients' retries after the fault
            **{k: str(v) for k, v in ADMITS_ANYTHING.items()},
        },
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


def short_command(
    scenario: Scenario,
    party: Party,
    kind: RequestKind,
    window: timedelta = timedelta(seconds=5),
) -> SubmitCommand:
    """A customer-initiated request of `kind` with a five-second window (or `window`), started the
    way the API starts one: it ends by its deadline (auto-agreed, or expired for a type change and
    for a partner change the new partner did not accept)."""
    policy = Settings(response_window=window, reminder_before=timedelta(0)).policy()
    moves = kind is PARTNER_CHANGE
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
        new_partner_id=scenario.new_partner_id if moves else None,
        new_partner_name="new reseller" if moves else None,
    )


async def run_with_fault(stack, pool, temporal, fault, name: str) -> None:
    """Run the 62 with `fault` injected; the fault returns when the part it broke is back (the
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
        if kind is PARTNER_CHANGE:
            return await move(plan, party)
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

    async def start_timing_out(
        kind: RequestKind, party: Party, window: timedelta = timedelta(seconds=5)
    ) -> str:
        cmd = short_command(scenario, party, kind, window)
        while True:
            try:
                await starter.start(temporal, cmd, stack.task_queue)
                return str(cmd.request_id)
            except RPCError:  # the server is down: try again, as a caller would
                client.counters.retries += 1
                await asyncio.sleep(0.25)

    completing = iter(range(IN_FLIGHT))  # the completed ones: half agreed to first

    async def move(plan: str, party: Party) -> str:
        """A partner change asked for and answered by both partners in turn, as `plan` says."""
        current, new = scenario.partner_token, scenario.new_partner_token
        agree_first = plan == "completed" and next(completing) % 2 == 0
        if plan == "timed_out":
            return await start_timing_out(PARTNER_CHANGE, party)
        if plan == "accepted_then_timed_out":
            request_id = await start_timing_out(PARTNER_CHANGE, party, ACCEPTED_WINDOW)
            await accepted_by_its_workflow(request_id)  # the new partner sees it, then accepts
            await answer(request_id, new, "accept", then="pending")
            return request_id
        path = PATHS[PARTNER_CHANGE]
        body = submit_body(
            PARTNER_CHANGE, party.association_id, new_partner_id=scenario.new_partner_id
        )
        submitted = await client.post(path, party.customer_token, body)
        assert submitted.status_code == 201, submitted.text
        request_id = submitted.json()["id"]
        agree, accept = (current, "agree", None), (new, "accept", None)
        first, second = {
            "completed": (agree, accept) if agree_first else (accept, agree),
            "rejected": (accept, (current, "reject", {"reason": "no"})),
            "declined": (agree, (new, "decline", {"reason": "no"})),
        }[plan]
        await answer(request_id, *first, then="pending")
        await answer(request_id, *second, then=plan)
        return request_id

    async def answer(
        request_id: str, token: str, action: str, body: dict | None = None, *, then: str
    ) -> None:
        """One partner's answer, taken once whichever attempt was answered: the request is `then`
        (a retry after it was taken is refused as `already_answered`, or as `not_pending` once it
        settled the request)."""
        answered = await client.post(f"{PATHS[PARTNER_CHANGE]}/{request_id}/{action}", token, body)
        if answered.status_code == 200:
            assert answered.json()["status"] == then, answered.text
        elif then == "pending":
            assert answered.status_code == 409, answered.text
            assert answered.json()["code"] == "already_answered", answered.text
        else:
            assert answered.status_code == 409, answered.text
            assert (answered.json()["code"], answered.json()["request_status"]) == (
                "not_pending", then,
            ), answered.text  # fmt: skip

    async def accepted_by_its_workflow(request_id: str) -> None:
        while True:
            try:
                async with pool.connection() as conn:
                    cur = await conn.execute("SELECT FROM requests WHERE id = %s", (request_id,))
                    if await cur.fetchone() is not None:
                        return
            except psycopg.OperationalError:  # PostgreSQL is down: looked at once it is back
                pass
            await asyncio.sleep(0.1)

    probing_done, settled = asyncio.Event(), asyncio.Event()
    probes = [
        asyncio.create_task(probe(stack.url_of(api), scenario.partner_token, probing_done))
        for api in APIS
    ]
    watching = asyncio.create_task(longest_overdue(pool, scenario, settled))
    movers = [party.customer_id for (kind, _, party) in plans if kind is PARTNER_CHANGE]
    sampling = asyncio.create_task(
        one_active_association_throughout(
            stack.database_url, movers, scenario.new_partner_id, settled
        )
    )
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
    watched = await sampling
    assert got == EXPECTED
    # Never seen without a partner, nor with two; every move was seen happen.
    assert watched.not_one == [], watched.not_one[:10]
    moved = SETTLED[PARTNER_CHANGE]["completed"]
    async with pool.connection() as conn:
        # How long after its start the slowest acceptance left to the deadline was taken: within
        # ACCEPTED_WINDOW, or the request would have expired.
        cur = await conn.execute(
            "SELECT extract(epoch FROM max((new_partner_decision ->> 'at')::timestamptz"
            " - submitted_at))::float FROM requests WHERE id = ANY(%s)"
            " AND decided_by = 'system:assocflow' AND status = 'completed'",
            ([uuid.UUID(r) for r in request_ids],),
        )
        [slowest_acceptance] = await cur.fetchone() or [None]
    assert watched.moves_seen == moved and watched.reads > 0, watched
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
        partner_changes_in_flight=sum(LOAD[PARTNER_CHANGE].values()),
        customers_moved=moved,
        reads_of_movers=watched.reads,
        moves_seen_by_the_reader=watched.moves_seen,
        slowest_acceptance_left_to_the_deadline=round(slowest_acceptance or 0, 1),
        movers_seen_without_one_active_association=len(watched.not_one),
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
                path = PATHS[(DISASSOCIATION, TYPE_CHANGE, PARTNER_CHANGE)[reads % 3]]
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
