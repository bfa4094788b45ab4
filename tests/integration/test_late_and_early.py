"""Timing at the edges of a request's life, with a real worker process: a decision that reaches
the workflow only after respond_by (the worker was down across the deadline) loses to the
deadline; and a worker started while Temporal is down waits for it instead of exiting."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contract import OperatorDecision
from devstack import services
from domain.types import Actor, Decision, DecisionAction, RequestKind, Side
from tests.api.test_disassociations import assert_problem, decide
from tests.factories import bearer, command
from tests.processes import json_log_lines, start_worker, wait_until_polling
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(120)]

WINDOW = timedelta(seconds=3)


async def statuses(factory, request_ids) -> dict:
    rows = await factory.fetch(
        "SELECT id, status FROM requests WHERE id = ANY(%s)", list(request_ids)
    )
    return {row["id"]: row["status"] for row in rows}


async def test_a_decision_that_arrives_after_the_deadline_loses_to_it(
    api, dev_env, database_url, factory, tmp_path
):
    client = dev_env.client
    address = client.service_client.config.target_host
    task_queue = f"late-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    worker = start_worker(database_url, address, task_queue, log)
    try:
        await asyncio.to_thread(wait_until_polling, worker, log)
        customers, partners, changes = [await factory.world() for _ in range(3)]
        by_customer = command(customers, Side.CUSTOMER, response_window=WINDOW)  # auto-agrees
        by_partner = command(partners, Side.PARTNER, response_window=WINDOW)  # expires
        # A customer's type change expires (nothing agrees to one on its own).
        change = command(
            changes, Side.CUSTOMER, kind=RequestKind.TYPE_CHANGE, response_window=WINDOW
        )
        for cmd in (by_customer, by_partner, change):
            assert (await starter.submit(client, cmd, task_queue)).accepted
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0

        # While no worker runs, the deadline passes.
        await asyncio.sleep(WINDOW.total_seconds() + 0.5)
        # The partner's reject reaches the API after respond_by: refused at once with the
        # outcome the deadline brings, though no workflow has applied it yet.
        late = await decide(
            api, customers.partner_admin, by_customer.request_id, "reject", reason="no"
        )
        assert assert_problem(late, 409, "not_pending")["request_status"] == "auto_agreed"
        late_agree = await api.post(
            f"/v1/type-changes/{change.request_id}/agree",
            json=None,
            headers=bearer(changes.partner_admin),
        )
        assert assert_problem(late_agree, 409, "not_pending")["request_status"] == "expired"
        # An operator's signal and an Update sent straight to the workflow (as a client that
        # skipped the API would) wait for the worker, and reach it after the deadline.
        customer_handle = client.get_workflow_handle(f"disassociation-{by_customer.request_id}")
        await customer_handle.signal(
            RequestWorkflow.reject, OperatorDecision(operator="night-shift", reason="no")
        )
        reject = Decision(
            action=DecisionAction.REJECT,
            actor=Actor(kind="customer", id=str(partners.customer_id), side=Side.CUSTOMER),
            reason="too late",
        )
        straight = asyncio.create_task(
            starter.decide(client, f"disassociation-{by_partner.request_id}", reject)
        )
        await asyncio.sleep(0.5)

        worker = start_worker(database_url, address, task_queue, log)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(straight, 60)
        assert refused.value.cause.type == "not_pending"
        assert list(refused.value.cause.details) == ["expired"]
        ids = [by_customer.request_id, by_partner.request_id, change.request_id]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "pending" not in (current := await statuses(factory, ids)).values():
                break
            await asyncio.sleep(0.1)
        assert [current[i] for i in ids] == ["auto_agreed", "expired", "expired"]
        [row] = await factory.fetch(
            "SELECT association_type FROM associations WHERE id = %s", changes.association_id
        )
        assert row["association_type"] == "resale"
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0
    finally:
        services.stop(worker)


async def test_a_worker_started_while_temporal_is_down_waits_for_it(database_url, tmp_path):
    port = services.free_port()
    address = f"127.0.0.1:{port}"
    log = tmp_path / "worker.log"
    worker = start_worker(database_url, address, f"early-{uuid.uuid4().hex[:8]}", log)
    quitter_log = tmp_path / "quitter.log"
    quitter = start_worker(database_url, address, f"early-{uuid.uuid4().hex[:8]}", quitter_log)
    temporal = None
    try:
        for proc, path in ((worker, log), (quitter, quitter_log)):
            await asyncio.to_thread(
                services.wait_for_log_line, path, "waiting for Temporal", timeout=60, process=proc
            )
        # Stopped while it waits: at once, and cleanly.
        quitter.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(quitter.wait, 15) == 0
        assert worker.poll() is None  # still waiting, not exited
        temporal = services.start_temporal_dev_server(
            db_file=None, port=port, ui_port=None, log_file=tmp_path / "temporal.log"
        )
        await asyncio.to_thread(wait_until_polling, worker, log)
        worker.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(worker.wait, 30) == 0
        events = [line["event"] for line in json_log_lines(log)]
        assert any(e.startswith("waiting for Temporal") for e in events)
        assert events[-1] == "worker stopped"
    finally:
        services.stop(worker)
        services.stop(quitter)
        if temporal is not None:
            services.stop(temporal)
