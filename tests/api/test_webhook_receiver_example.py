"""examples/webhook_receiver.py, run as a partner would run it, gets the real relay's deliveries:
it verifies them, answers at once while the work takes longer, handles each event once, and
refuses what is forged or stale. Each event it handles is one the OpenAPI document's `webhooks`
describes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
from standardwebhooks.webhooks import Webhook

from devstack.services import free_port
from server.app import create_app
from tests.api.test_disassociations import submit
from tests.api.test_webhooks import deliveries, eventually, register
from tests.conftest import ROOT
from tests.factories import bearer

pytestmark = pytest.mark.devserver

RECEIVER = ROOT / "examples" / "webhook_receiver.py"
HANDLE_DELAY = 1.5  # each event takes this long to handle; the answers must not wait for it


class Running:
    def __init__(self, tmp: Path, secret: str, port: int) -> None:
        self.out = tmp / "stdout.jsonl"
        self.err = tmp / "stderr.log"
        self.url = f"http://127.0.0.1:{port}/hooks"
        self.webhook = Webhook(secret)
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(RECEIVER), "--port", str(port), "--state",
                 str(tmp / "state.sqlite3"), "--handle-delay", str(HANDLE_DELAY)],
                stdout=out, stderr=err, env={**os.environ, "ASSOCFLOW_WEBHOOK_SECRET": secret},
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            assert self.process.poll() is None, self.err.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "the receiver did not start listening"
                time.sleep(0.05)

    def handled(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    async def post(self, webhook_id: str, body: str, *, at: datetime | None = None, secret=None):
        signer = Webhook(secret) if secret else self.webhook
        at = at or datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signer.sign(webhook_id, at, body),
        }
        async with httpx.AsyncClient() as client:
            return await client.post(self.url, content=body, headers=headers)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def start_receiver(tmp_path):
    started = []

    def start(secret: str, port: int) -> Running:
        started.append(Running(tmp_path, secret, port))
        return started[-1]

    yield start
    for running in started:
        running.stop()


async def test_the_example_receiver_handles_each_real_delivery_once_and_answers_at_once(
    api, relay, factory, start_receiver
):
    world = await factory.world()
    port = free_port()
    endpoint = await register(api, world.partner_admin, f"http://127.0.0.1:{port}/hooks")
    receiver = start_receiver(endpoint["secret"], port)

    # A customer asks, the partner agrees: the partner is sent three events.
    request = (await submit(api, world.customer, world.association_id)).json()
    agreed = await api.post(
        f"/v1/disassociations/{request['id']}/agree", headers=bearer(world.partner_admin)
    )
    assert agreed.status_code == 200
    expected = {"disassociation.requested", "disassociation.agreed", "association.ended"}

    async def all_handled():
        handled = receiver.handled()
        return handled if len(handled) >= 3 else None

    handled = await eventually(all_handled, seconds=30)
    assert {h["type"] for h in handled} == expected and len(handled) == 3
    assert {h["request_id"] for h in handled} == {request["id"]}

    # Each was answered at once (one attempt each, well under the handling time) and is done.
    sent = await deliveries(api, world.partner_admin, endpoint["id"])
    assert {d["status"] for d in sent} == {"delivered"} and len(sent) == 3
    for delivery in sent:
        [attempt] = delivery["attempt_log"]
        assert attempt["status_code"] == 204
        assert attempt["duration_ms"] < HANDLE_DELAY * 1000 / 2
    assert {d["webhook_id"] for d in sent} == {h["webhook_id"] for h in handled}

    # What arrived is what the OpenAPI document's `webhooks` says each event is.
    schema = create_app().openapi()
    for event in handled:
        media = schema["webhooks"][event["type"]]["post"]["requestBody"]["content"]
        root = {**media["application/json"]["schema"], "components": schema["components"]}
        assert list(jsonschema_rs.Draft202012Validator(root).iter_errors(event["event"])) == []

    # A retry of a handled event (same webhook-id) is answered, and not handled again: a fresh
    # event sent after it is handled next (events are handled in the order they came).
    first = handled[0]
    body = json.dumps(first["event"])
    assert (await receiver.post(first["webhook_id"], body)).status_code == 204
    fresh = f"msg_{uuid.uuid4().hex}"
    assert (await receiver.post(fresh, body)).status_code == 204
    handled = await eventually(
        lambda: asyncio.sleep(0, receiver.handled() if len(receiver.handled()) >= 4 else None),
        seconds=30,
    )
    assert [h["webhook_id"] for h in handled[3:]] == [fresh]
    assert "duplicate" in receiver.err.read_text()

    # Forged (signed with another secret) or stale: refused, and never handled.
    other_secret = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ=="
    forged = await receiver.post(f"msg_{uuid.uuid4().hex}", body, secret=other_secret)
    stale = await receiver.post(
        f"msg_{uuid.uuid4().hex}", body, at=datetime.now(UTC) - timedelta(hours=1)
    )
    assert forged.status_code == 401 and stale.status_code == 401
    fresh = f"msg_{uuid.uuid4().hex}"
    assert (await receiver.post(fresh, body)).status_code == 204
    handled = await eventually(
        lambda: asyncio.sleep(0, receiver.handled() if len(receiver.handled()) >= 5 else None),
        seconds=30,
    )
    assert [h["webhook_id"] for h in handled[4:]] == [fresh]
