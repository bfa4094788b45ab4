"""A request whose workflow was terminated (or is missing) is settled as cancelled by the
reconciler, which the worker schedules at start (once, however many workers start), on record,
in the log and in a metric. On a database of its own: the reconciler sweeps all of it."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from devstack import services
from domain.types import RequestKind, Side
from store.db import open_pool
from tests.conftest import fresh_database
from tests.factories import Factory, command
from tests.processes import json_log_lines, start_worker, wait_until_polling
from workflows import starter

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(180)]


@pytest.fixture
async def own_database(postgres_server_url: str) -> AsyncIterator[tuple[str, AsyncConnectionPool]]:
    async with fresh_database(postgres_server_url, "reconciler") as url:
        pool = await open_pool(url)
        yield url, pool
        await pool.close()


async def until(predicate, *, within: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := await predicate():
            return value
        await asyncio.sleep(every)
    raise AssertionError("not within the time allowed")


async def test_the_reconciler_cancels_requests_whose_workflow_ended_without_an_outcome(
    dev_env, own_database, tmp_path
):
    database_url, pool = own_database
    factory = Factory(pool)
    client = dev_env.client
    address = client.service_client.config.target_host
    task_queue = f"reconciler-{uuid.uuid4().hex[:8]}"
    metrics_port = services.free_port()
    log = tmp_path / "worker.log"
    worker = start_worker(
        database_url, address, task_queue, log, metrics_port=metrics_port, reconcile_interval="1"
    )
    second = None
    try:
        await asyncio.to_thread(wait_until_polling, worker, log)
        # A request whose workflow an operator terminates in the Temporal UI.
        terminated_world = await factory.world()
        terminated = command(terminated_world, Side.CUSTOMER)
        assert (await starter.submit(client, terminated, task_queue)).accepted
        handle = client.get_workflow_handle(f"disassociation-{terminated.request_id}")
        await handle.terminate(reason="stuck in a test")
        # A type change's workflow, terminated too: the reconciler covers every kind.
        change_world = await factory.world()
        change = command(change_world, Side.PARTNER, kind=RequestKind.TYPE_CHANGE)
        assert (await starter.submit(client, change, task_queue)).accepted
        await client.get_workflow_handle(f"type-change-{change.request_id}").terminate()
        # And a partner change's.
        move_world = await factory.world()
        move = command(move_world, Side.CUSTOMER, kind=RequestKind.PARTNER_CHANGE).model_copy(
            update={"new_partner_id": await factory.partner(), "new_partner_name": "New"}
        )
        assert (await starter.submit(client, move, task_queue)).accepted
        await client.get_workflow_handle(f"partner-change-{move.request_id}").terminate()
        # A pending request past its deadline whose workflow never existed here (restored from a
        # backup, or its namespace lost).
        orphan_world = await factory.world()
        orphan_id = uuid.uuid4()
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO requests (id, kind, association_id, partner_id, customer_id,"
                " initiator, requested_by, status, reason, submitted_at, respond_by, on_timeout,"
                " workflow_id, account_check) VALUES (%s, 'disassociation', %s, %s, %s, 'partner',"
                " 'partner_user:x', 'pending', 'r', %s, %s, 'expired', %s, '{}')",
                (
                    orphan_id, orphan_world.association_id, orphan_world.partner_id,
                    orphan_world.customer_id, datetime.now(UTC) - timedelta(days=11),
                    datetime.now(UTC) - timedelta(days=1), f"disassociation-{orphan_id}",
                ),
            )  # fmt: skip
        # A running request is left alone.
        running_world = await factory.world()
        running = command(running_world, Side.PARTNER)
        assert (await starter.submit(client, running, task_queue)).accepted

        async def both_cancelled():
            rows = await factory.fetch(
                "SELECT id, status, decided_by, decision_reason FROM requests"
                " WHERE id = ANY(%s) AND status = 'cancelled'",
                [terminated.request_id, orphan_id, change.request_id, move.request_id],
            )
            return rows if len(rows) == 4 else None

        rows = {row["id"]: row for row in await until(both_cancelled)}
        assert rows[terminated.request_id]["decided_by"] == "system:reconciler"
        assert rows[terminated.request_id]["decision_reason"] == (
            f"Its workflow was terminated by {client.identity}: stuck in a test."
        )
        assert rows[orphan_id]["decision_reason"] == "Its workflow does not exist."
        assert rows[change.request_id]["decided_by"] == "system:reconciler"
        told = await factory.fetch(
            "SELECT event_type, recipient_kind FROM notifications WHERE request_id = %s"
            " AND event_type = 'type_change.cancelled'",
            change.request_id,
        )
        assert sorted(row["recipient_kind"] for row in told) == ["customer", "partner"]
        assert (
            await factory.fetch("SELECT status FROM requests WHERE id = %s", running.request_id)
        )[0]["status"] == "pending"
        # On record, both sides told, the association kept.
        [record] = await factory.fetch(
            "SELECT actor, reason FROM association_records WHERE request_id = %s"
            " AND action = 'cancelled'",
            terminated.request_id,
        )
        assert record["actor"] == "system:reconciler" and "terminated by" in record["reason"]
        told = await factory.fetch(
            "SELECT recipient_kind FROM notifications WHERE request_id = %s"
            " AND event_type = 'disassociation.cancelled'",
            terminated.request_id,
        )
        assert sorted(t["recipient_kind"] for t in told) == ["customer", "partner"]
        association = await factory.fetch(
            "SELECT status FROM associations WHERE id = %s", terminated_world.association_id
        )
        assert association[0]["status"] == "active"
        # Counted and logged.
        metrics = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{metrics_port}/metrics")
        for cause, count in (("terminated", 3), ("missing", 1)):
            assert re.search(
                rf'^assocflow_requests_reconciled{{[^}}]*cause="{cause}"[^}}]*}} {count}$',
                metrics.text,
                re.MULTILINE,
            ), metrics.text
        repairs = [
            line for line in json_log_lines(log)
            if line["event"] == "request cancelled by the reconciler"
        ]  # fmt: skip
        assert {line["request_id"] for line in repairs} == {
            str(terminated.request_id),
            str(orphan_id),
            str(change.request_id),
            str(move.request_id),
        }

        # A second worker of the deployment finds the schedule in place: still one.
        second_log = tmp_path / "second.log"
        second = start_worker(database_url, address, task_queue, second_log, reconcile_interval="1")
        await asyncio.to_thread(wait_until_polling, second, second_log)
        said = [line["event"] for line in json_log_lines(second_log)]
        assert f"reconciler schedule reconciler-{task_queue} in place, every 0:00:01" in said
        schedules = [s.id async for s in await client.list_schedules()]
        assert schedules.count(f"reconciler-{task_queue}") == 1
        for proc in (worker, second):
            proc.send_signal(signal.SIGTERM)
        assert [worker.wait(30), second.wait(30)] == [0, 0]
    finally:
        services.stop(worker)
        if second is not None:
            services.stop(second)
        await client.get_schedule_handle(f"reconciler-{task_queue}").delete()
