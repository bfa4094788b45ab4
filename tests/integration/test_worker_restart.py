"""A worker SIGKILLed while requests are pending: a new worker finishes every one correctly."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import timedelta

import pytest

from contract import OperatorDecision
from devstack import services
from domain.types import Side
from tests.factories import command
from tests.processes import start_worker
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.devserver


async def statuses(factory, request_ids) -> dict:
    rows = await factory.fetch(
        "SELECT id, status FROM requests WHERE id = ANY(%s)", list(request_ids)
    )
    return {row["id"]: row["status"] for row in rows}


async def test_killed_worker_is_replaced_and_every_pending_request_finishes(
    dev_env, database_url, factory, tmp_path
):
    task_queue = f"restart-{uuid.uuid4().hex[:8]}"
    address = dev_env.client.service_client.config.target_host
    log = tmp_path / "worker.log"
    worker = start_worker(database_url, address, task_queue, log)
    try:
        worlds = [await factory.world() for _ in range(4)]
        window = {"response_window": timedelta(seconds=4)}
        cmds = [
            command(worlds[0], Side.CUSTOMER, **window),  # will be auto-agreed
            command(worlds[1], Side.CUSTOMER, **window),  # will be auto-agreed
            command(worlds[2], Side.PARTNER, **window),  # will expire
            # An operator agrees while no worker runs; its deadline is still ahead when the
            # worker is back (a decision reaching the workflow after the deadline would lose to
            # it: tests/integration/test_late_and_early.py).
            command(worlds[3], Side.PARTNER, response_window=timedelta(minutes=5)),
        ]
        async with asyncio.timeout(60):
            admissions = await asyncio.gather(
                *(starter.submit(dev_env.client, cmd, task_queue) for cmd in cmds)
            )
        assert all(a.accepted for a in admissions)

        worker.send_signal(signal.SIGKILL)
        worker.wait()
        handle = dev_env.client.get_workflow_handle(f"disassociation-{cmds[3].request_id}")
        await handle.signal(RequestWorkflow.agree, OperatorDecision(operator="night-shift"))
        await asyncio.sleep(5)  # every deadline passes while no worker runs
        ids = [cmd.request_id for cmd in cmds]
        assert set((await statuses(factory, ids)).values()) == {"pending"}

        worker = start_worker(database_url, address, task_queue, log)
        for _ in range(300):
            current = await statuses(factory, ids)
            if "pending" not in current.values():
                break
            await asyncio.sleep(0.1)
        assert [current[i] for i in ids] == ["auto_agreed", "auto_agreed", "expired", "agreed"]
        ended = await factory.fetch(
            "SELECT id FROM associations WHERE status = 'ended' AND id = ANY(%s)",
            [w.association_id for w in worlds],
        )
        assert {row["id"] for row in ended} == {
            worlds[0].association_id,
            worlds[1].association_id,
            worlds[3].association_id,
        }
        outcome_records = await factory.fetch(
            "SELECT request_id, count(*) AS n FROM association_records WHERE request_id = ANY(%s)"
            " AND kind = 'disassociation' GROUP BY request_id",
            ids,
        )
        assert {row["request_id"]: row["n"] for row in outcome_records} == {i: 2 for i in ids}
        for request_id, expected in zip(ids, (5, 5, 3, 5), strict=True):
            # requested (1) + outcome to both (2) [+ association.ended to both (2)]
            assert (
                await factory.count(
                    "SELECT count(*) FROM notifications WHERE request_id = %s", request_id
                )
                == expected
            )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0  # a graceful stop
    finally:
        services.stop(worker)
