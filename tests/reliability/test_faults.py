"""Faults with 50 requests in flight: the worker killed, PostgreSQL stopped, the Temporal server
killed and restarted on its state, the API killed while clients retry with the same
Idempotency-Key. Afterwards PostgreSQL holds exactly what the 50 requests should leave behind:
nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import psycopg
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from assocflow.settings import Settings
from assocflow.temporal import connect
from devstack.stack import Stack
from domain.types import Actor, AssociationType, Side
from store.db import migrate, open_pool
from tests.reliability.harness import RetryingClient, counts, make_scenario, record_figures
from workflows import starter
from workflows.contract import SubmitCommand

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

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
    stack.start("worker")
    stack.start("api")
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
    scenario = await make_scenario(pool, 50)
    agreeing, rejecting, timing_out = (
        scenario.parties[:AGREED],
        scenario.parties[AGREED : AGREED + REJECTED],
        scenario.parties[AGREED + REJECTED :],
    )
    client = RetryingClient(stack.api)
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
    await faulting

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
    record_figures(
        name,
        requests_in_flight=50,
        faults_injected=1,
        client_calls=client.counters.calls,
        client_retries=client.counters.retries,
        activity_retries=activity_retries,
        requests=sum(got["requests_by_status"].values()),
        lost=0,
        duplicated=0,
        seconds_to_all_settled=round(time.monotonic() - started, 1),
    )
    await client.aclose()


async def kill_worker(stack):
    await asyncio.sleep(0.5)  # submits and acceptances under way
    stack.kill("worker")
    await asyncio.sleep(2)
    stack.restart("worker")


async def stop_postgres(stack):
    await asyncio.sleep(0.3)  # submits, acceptances and decisions under way
    await asyncio.to_thread(stack.stop_postgres)
    await asyncio.sleep(3)
    await asyncio.to_thread(stack.restart_postgres)


async def restart_temporal(stack):
    await asyncio.sleep(0.3)  # submits waiting on their workflows
    stack.kill("temporal")
    await asyncio.sleep(3)
    await asyncio.to_thread(stack.restart, "temporal")


async def restart_api(stack):
    await asyncio.sleep(0.3)  # submits in flight through the API
    stack.kill("api")
    await asyncio.sleep(1)
    await asyncio.to_thread(stack.restart, "api")


@pytest.mark.parametrize(
    "fault",
    [kill_worker, stop_postgres, restart_temporal, restart_api],
    ids=["worker_sigkilled", "postgres_stopped", "temporal_restarted", "api_restarted"],
)
async def test_nothing_is_lost_or_applied_twice(stack, stack_pool, temporal, fault, request):
    await run_with_fault(stack, stack_pool, temporal, fault, request.node.callspec.id)
