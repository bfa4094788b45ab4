"""Every assocflow process exits 0 on SIGINT and SIGTERM with nothing but JSON in its log, however
often it is stopped: the Temporal SDK's runtime threads must never outlive the interpreter
(assocflow/process.py)."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

import httpx
import pytest

from devstack import services
from domain.types import Side
from tests.factories import command
from tests.processes import json_log_lines, start_worker, wait_until_polling
from workflows import starter

pytestmark = pytest.mark.devserver

STOPS = 20


async def test_a_busy_worker_stops_cleanly_every_time(dev_env, database_url, factory, tmp_path):
    """20 times: a worker connected to Temporal, its Prometheus exporter serving, requests in
    flight, is stopped by SIGTERM or SIGINT; it exits 0 and its log is whole JSON."""
    address = dev_env.client.service_client.config.target_host
    task_queue = f"stops-{uuid.uuid4().hex[:8]}"
    worlds = [await factory.world() for _ in range(STOPS)]
    for n in range(STOPS):
        log = tmp_path / f"worker-{n}.log"
        metrics_port = services.free_port()
        worker = start_worker(database_url, address, task_queue, log, metrics_port=metrics_port)
        try:
            await asyncio.to_thread(wait_until_polling, worker, log)
            metrics = await asyncio.to_thread(
                httpx.get, f"http://127.0.0.1:{metrics_port}/metrics", timeout=5
            )
            assert metrics.status_code == 200
            # A request in flight: its workflow and activities run while the stop arrives.
            await starter.start(dev_env.client, command(worlds[n], Side.CUSTOMER), task_queue)
            worker.send_signal(signal.SIGTERM if n % 2 else signal.SIGINT)
            code = await asyncio.to_thread(worker.wait, 30)
        finally:
            services.stop(worker)
        assert code == 0, f"stop {n + 1}: exit {code}\n{log.read_text()[-3000:]}"
        events = [line["event"] for line in json_log_lines(log)]
        assert "worker stopped" in events, f"stop {n + 1}: {events}"


API_STOPS = 3


@pytest.mark.parametrize(
    ("command_line", "stop_signal"),
    [
        ([sys.executable, "-m", "server"], signal.SIGTERM),
        ([str(services.BIN / "assocflow"), "api"], signal.SIGINT),
    ],
    ids=["python -m server, SIGTERM", "assocflow api, SIGINT"],
)
async def test_the_api_stops_cleanly(dev_env, database_url, tmp_path, command_line, stop_signal):
    """The API holds a Temporal client too: served requests, then stopped, it exits 0 with a
    JSON log."""
    for n in range(API_STOPS):
        port = services.free_port()
        log = tmp_path / f"api-{n}.log"
        env = services.child_env(
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
            ASSOCFLOW_API_PORT=str(port),
            PYTHONUNBUFFERED="1",
        )
        api = services.spawn(command_line, log, env=env)
        try:
            await asyncio.to_thread(
                services.wait_for_http, f"http://127.0.0.1:{port}/readyz", timeout=60, process=api
            )
            api.send_signal(stop_signal)
            code = await asyncio.to_thread(api.wait, 30)
        finally:
            services.stop(api)
        assert code == 0, f"stop {n + 1}: exit {code}\n{log.read_text()[-3000:]}"
        requests = [line for line in json_log_lines(log) if line["event"] == "request"]
        assert requests and requests[-1]["route"] == "/readyz"
