"""Scale-out: three workers and two API processes on one Temporal server and one PostgreSQL, as
`docker compose up --scale api=2 --scale worker=3` runs them. 200 lifecycles go through both
APIs (each submitted through one and decided through the other) while one worker is SIGKILLed.
Afterwards every request is settled once, every webhook is delivered (the relay's leases keep
three relays off each other's deliveries), and the three workers made one reconciler schedule.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg.rows import dict_row
from temporalio.client import Client

from devstack import services
from domain.types import RequestKind
from store.db import open_pool
from tests.conftest import ADMITS_ANYTHING_ENV, ENCRYPTION_KEY
from tests.processes import json_log_lines, start_worker, wait_until_polling
from tests.receiver import Receiver
from tests.reliability.harness import (
    Party,
    RetryingClient,
    counts,
    expected_counts,
    make_scenario,
    record_figures,
)
from webhooks.relay import BATCH, webhook_id
from workflows.starter import reconciler_schedule_id

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

WORKERS, APIS = 3, 2
LIFECYCLES = 200
AGREED = REJECTED = LIFECYCLES // 2  # customer-initiated; the partner agrees to half
IN_FLIGHT = 20
OUTCOME = {"agree": "agreed", "reject": "rejected"}
KILL_AFTER = 60  # submits answered before one worker is SIGKILLed

EXPECTED = expected_counts(
    LIFECYCLES, {RequestKind.DISASSOCIATION: {"agreed": AGREED, "rejected": REJECTED}}
)
# The partner's endpoint is sent what the partner is told: requested, then agreed and ended or
# rejected.
PARTNER_WEBHOOKS = LIFECYCLES + 2 * AGREED + REJECTED

SETTINGS = {
    "ASSOCFLOW_ENCRYPTION_KEY": ENCRYPTION_KEY,
    "ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
    "ASSOCFLOW_WEBHOOK_BACKOFF_BASE": "0.05",
    "ASSOCFLOW_WEBHOOK_BACKOFF_CAP": "0.2",
    "ASSOCFLOW_WEBHOOK_TIMEOUT": "2",
    # A dead relay's leases run out in seconds; a live one never holds a delivery that long
    # (two timeouts at most), so no two relays ever hold the same delivery.
    "ASSOCFLOW_WEBHOOK_LEASE": "6",
    "ASSOCFLOW_RATE_LIMIT_SUBMIT": "100000/minute",
    "ASSOCFLOW_RATE_LIMIT_VERIFICATION": "100000/minute",
    # Twenty lifecycles at once through a killed worker: slow answers, never refused ones.
    **ADMITS_ANYTHING_ENV,
    "PYTHONUNBUFFERED": "1",
}


@pytest.fixture(scope="module")
async def cluster(postgres_server_url, tmp_path_factory):
    """One Temporal dev server, a database of its own, 3 workers (reconciler and relay on) and 2
    APIs on one task queue; yields what the test needs and stops it all, checking that each
    process still running exits 0 on SIGTERM with every log line JSON."""
    logs: Path = tmp_path_factory.mktemp("scale-out")
    name = f"assocflow_scale_{uuid.uuid4().hex[:8]}"
    # An empty database: the five processes migrate it as they start, at once, as on a fresh host.
    database_url = services.ensure_database(postgres_server_url, name)
    temporal_port = services.free_port()
    temporal = services.start_temporal_dev_server(
        db_file=None, port=temporal_port, ui_port=None, log_file=logs / "temporal.log"
    )
    address = f"127.0.0.1:{temporal_port}"
    task_queue = f"scale-{uuid.uuid4().hex[:8]}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for n in range(WORKERS):  # started together: their schedule calls race
            procs[f"worker{n}"] = start_worker(
                database_url, address, task_queue, logs / f"worker{n}.log",
                reconcile_interval="PT10S",
                **{k.removeprefix("ASSOCFLOW_").lower(): v for k, v in SETTINGS.items()
                   if k.startswith("ASSOCFLOW_")},
            )  # fmt: skip
        ports = services.free_ports(APIS)
        for n, port in enumerate(ports):
            env = services.child_env(
                DATABASE_URL=database_url,
                TEMPORAL_ADDRESS=address,
                ASSOCFLOW_TASK_QUEUE=task_queue,
                ASSOCFLOW_API_PORT=str(port),
                **SETTINGS,
            )
            procs[f"api{n}"] = services.spawn_python(
                ["-m", "server"], logs / f"api{n}.log", env=env
            )
        for n in range(WORKERS):
            wait_until_polling(procs[f"worker{n}"], logs / f"worker{n}.log")
        for n, port in enumerate(ports):
            services.wait_for_http(
                f"http://127.0.0.1:{port}/readyz", timeout=60, process=procs[f"api{n}"]
            )
        yield {
            "database_url": database_url,
            "temporal_address": address,
            "task_queue": task_queue,
            "apis": [f"http://127.0.0.1:{port}" for port in ports],
            "procs": procs,
            "logs": logs,
        }
        for proc_name, proc in list(procs.items()):
            if proc.poll() is None:
                assert services.stop(proc, timeout=20), f"{proc_name} ignored SIGTERM"
                assert proc.returncode == 0, (proc_name, proc.returncode)
            json_log_lines(logs / f"{proc_name}.log")
    finally:
        for proc in procs.values():
            services.stop(proc)
        services.stop(temporal)
        services.drop_database(postgres_server_url, name)


async def test_two_apis_and_three_workers_one_killed(cluster):
    started = time.monotonic()
    pool = await open_pool(cluster["database_url"], max_size=4)
    receiver = Receiver(delay=0.01)
    clients = [RetryingClient(url, deadline=90) for url in cluster["apis"]]
    try:
        scenario = await make_scenario(pool, LIFECYCLES)
        async with httpx.AsyncClient(base_url=cluster["apis"][0], timeout=30) as http:
            registered = await http.post(
                "/v1/webhook-endpoints",
                json={"url": receiver.url},
                headers={"Authorization": f"Bearer {scenario.partner_token}"},
            )
        assert registered.status_code == 201, registered.text
        endpoint_id = registered.json()["id"]

        answered = 0
        enough_answered = asyncio.Event()
        gate = asyncio.Semaphore(IN_FLIGHT)
        settled_by: Counter[str] = Counter()

        async def lifecycle(n: int, party: Party) -> None:
            nonlocal answered
            submit_via, decide_via = clients[n % APIS], clients[(n + 1) % APIS]
            async with gate:
                submitted = await submit_via.post(
                    "/v1/disassociations",
                    party.customer_token,
                    {
                        "association_id": str(party.association_id),
                        "reason": "scale-out test",
                        "acknowledged": True,
                    },
                )
                assert submitted.status_code == 201, submitted.text
                answered += 1
                if answered >= KILL_AFTER:
                    enough_answered.set()
                request_id = submitted.json()["id"]
                action, body = ("agree", {}) if n % 2 == 0 else ("reject", {"reason": "no"})
                outcome = OUTCOME[action]
                decided = await decide_via.post(
                    f"/v1/disassociations/{request_id}/{action}", scenario.partner_token, body
                )
            # The decision applied once, whichever attempt of the client was answered.
            answer = decided.json()
            assert (decided.status_code, answer.get("status")) == (200, outcome) or (
                decided.status_code == 409 and answer.get("request_status") == outcome
            ), decided.text
            settled_by[outcome] += 1

        async def kill_one_worker() -> None:
            await enough_answered.wait()
            victim = cluster["procs"].pop("worker0")
            victim.send_signal(signal.SIGKILL)
            await asyncio.to_thread(victim.wait)

        killing = asyncio.create_task(kill_one_worker())
        await asyncio.gather(*(lifecycle(n, p) for n, p in enumerate(scenario.parties)))
        await killing
        assert settled_by == {"agreed": AGREED, "rejected": REJECTED}

        # Every request settled once: the store holds exactly what 200 lifecycles leave.
        assert await counts(pool, scenario) == EXPECTED

        # Every webhook delivered: each of the partner's notifications reached the receiver.
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            notes = await (
                await cur.execute(
                    "SELECT id FROM notifications WHERE recipient_kind = 'partner'"
                    " AND recipient_id = %s",
                    (scenario.partner_id,),
                )
            ).fetchall()
        expected_ids = {webhook_id(row["id"]) for row in notes}
        assert len(expected_ids) == PARTNER_WEBHOOKS
        deliveries: list[dict[str, Any]] = []
        for _ in range(300):  # the relays deliver after the commits; a dead one's leases expire
            async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                deliveries = await (
                    await cur.execute(
                        "SELECT notification_id, status, attempts FROM webhook_deliveries"
                        " WHERE endpoint_id = %s",
                        (endpoint_id,),
                    )
                ).fetchall()
            if len(deliveries) == PARTNER_WEBHOOKS and all(
                d["status"] == "delivered" for d in deliveries
            ):
                break
            await asyncio.sleep(0.1)
        assert Counter(d["status"] for d in deliveries) == {"delivered": PARTNER_WEBHOOKS}
        received = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert set(received) == expected_ids
        # The leases held. A relay claims a delivery (counting the attempt) under a lease and
        # records the attempt's answer, so two relays holding one delivery at once would both
        # record a success; a retry follows only a recorded failure. So: one success recorded
        # per delivery, and what reached the receiver beyond it is accounted for by claims never
        # recorded, which only the killed worker's relay leaves (one batch at most).
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            attempts = await (
                await cur.execute(
                    "SELECT d.notification_id, d.attempts,"
                    " count(a.id) FILTER (WHERE a.status_code BETWEEN 200 AND 299) AS successes,"
                    " count(a.id) AS recorded"
                    " FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id"
                    " WHERE d.endpoint_id = %s GROUP BY d.id",
                    (endpoint_id,),
                )
            ).fetchall()
        assert len(attempts) == PARTNER_WEBHOOKS
        assert {row["successes"] for row in attempts} == {1}, [
            row for row in attempts if row["successes"] != 1
        ]
        unrecorded = {
            webhook_id(row["notification_id"]): row["attempts"] - row["recorded"]
            for row in attempts
        }
        assert all(n >= 0 for n in unrecorded.values())
        assert sum(unrecorded.values()) <= BATCH, unrecorded
        assert all(received[key] <= 1 + unrecorded[key] for key in received), received
        duplicates = sum(received.values()) - len(received)

        # The reconciler schedule: created by one worker, found in place by the others.
        said = [
            str(line["event"])
            for n in range(WORKERS)
            for line in json_log_lines(cluster["logs"] / f"worker{n}.log")
            if str(line.get("event", "")).startswith("reconciler schedule")
        ]
        assert len(said) == WORKERS, said
        assert sum(" created," in message for message in said) == 1, said
        temporal = await Client.connect(cluster["temporal_address"])
        schedules = [s.id async for s in await temporal.list_schedules()]
        assert schedules == [reconciler_schedule_id(cluster["task_queue"])]

        record_figures(
            "scale_out",
            workers=WORKERS,
            apis=APIS,
            lifecycles=LIFECYCLES,
            workers_killed=1,
            client_retries=sum(c.counters.retries for c in clients),
            webhooks=PARTNER_WEBHOOKS,
            webhook_duplicates=duplicates,
            seconds=round(time.monotonic() - started, 1),
        )
    finally:
        for client in clients:
            await client.aclose()
        receiver.close()
        await pool.close()
