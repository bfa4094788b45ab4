"""docs/API.md's examples run as written: the curl block in bash, and the generated-client block
with a client generated from the live document, both against the app served by uvicorn."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from server.app import create_app
from tests.api.test_generated_client import generate_client
from tests.conftest import ROOT, WEBHOOKS, make_settings

pytestmark = pytest.mark.devserver

DOC = ROOT / "docs" / "API.md"


def block(name: str) -> str:
    """The code of the block between `<!-- api-doc:<name>:start -->` and its end."""
    marked = re.search(
        rf"<!-- api-doc:{name}:start -->\s*```\w+\n(.*?)```\s*<!-- api-doc:{name}:end -->",
        DOC.read_text(),
        re.S,
    )
    assert marked, f"docs/API.md has no {name} block"
    return marked.group(1)


@pytest.fixture
async def served(database_url, task_queue, dev_env, dev_worker) -> AsyncIterator[str]:
    """The app served by uvicorn on a socket bound first, in a thread with its own loop."""
    settings = make_settings(
        database_url,
        task_queue,
        temporal_address=dev_env.client.service_client.config.target_host,
        **WEBHOOKS,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), access_log=False, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.05)
    yield f"http://{host}:{port}"
    server.should_exit = True
    await asyncio.to_thread(thread.join, 30)
    sock.close()


def environment(url: str, world) -> dict[str, str]:
    return {
        **os.environ,
        "API": url,
        "CUSTOMER_TOKEN": world.customer,
        "PARTNER_TOKEN": world.partner_admin,
        "ASSOCIATION": str(world.association_id),
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_examples_run_as_written(served, factory):
    world = await factory.world()
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", block("curl")],
        env=environment(served, world),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    request_id = lines[0]
    assert lines == [request_id, "agreed", "not_pending", "agreed", "requested"]
    headers = done.stderr.lower()
    assert "http/1.1 201" in headers and "ratelimit-remaining:" in headers
    assert "idempotent-replayed: true" in headers


async def test_the_generated_client_example_runs_as_written(served, factory, tmp_path):
    generate_client(tmp_path)
    world = await factory.world()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", block("client")],
        env={**environment(served, world), "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second, third, fourth = done.stdout.splitlines()
    assert re.fullmatch(r"201 pending \d+", first)
    assert second == "agreed"
    assert third == "not_pending agreed"
    assert "'agreed'" in fourth and "'requested'" in fourth
