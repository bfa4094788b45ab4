"""The relay killed in the middle of deliveries: after a restart every notification reaches the
receiver (at least once, duplicates with the same webhook-id) and none is lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack import services
from store import notifications, webhooks
from tests.conftest import ENCRYPTION_KEY
from tests.processes import start_worker
from tests.receiver import Receiver
from webhooks.relay import webhook_id
from webhooks.secrets import SecretBox, new_secret

pytestmark = pytest.mark.devserver

EVENTS = 30


def start_relay(database_url: str, address: str, log: Path) -> subprocess.Popen[bytes]:
    """A worker (its relay delivering to local receivers within milliseconds)."""
    return start_worker(
        database_url,
        address,
        f"relay-{uuid.uuid4().hex[:8]}",
        log,
        encryption_key=ENCRYPTION_KEY,
        webhook_allow_private="true",
        webhook_lease="PT2S",
        webhook_backoff_base="0.05",
        webhook_backoff_cap="0.2",
    )


async def statuses(factory, endpoint_id) -> dict[str, int]:
    rows = await factory.fetch(
        "SELECT status, count(*) AS n FROM webhook_deliveries WHERE endpoint_id = %s GROUP BY status",
        endpoint_id,
    )
    return {r["status"]: r["n"] for r in rows}


async def test_no_notification_is_lost_when_the_relay_dies_mid_delivery(
    dev_env, database_url, factory, pool, tmp_path
):
    receiver = Receiver()
    receiver.gate.clear()  # deliveries hang at the receiver until the worker is gone
    customer_id, _ = await factory.customer()
    async with pool.connection() as conn:
        endpoint = await webhooks.create_endpoint(
            conn,
            "customer",
            customer_id,
            receiver.url,
            None,
            None,
            SecretBox(ENCRYPTION_KEY).seal(new_secret()),
        )
        async with conn.transaction():
            for n in range(EVENTS):
                await notifications.notify(
                    conn, recipients=[("customer", customer_id, f"test:{uuid.uuid4()}")],
                    event_type="disassociation.reminder",
                    summary=f"event {n}", data={"n": n}, created_at=datetime.now(UTC),
                )  # fmt: skip
    address = dev_env.client.service_client.config.target_host
    worker = start_relay(database_url, address, tmp_path / "worker.log")
    try:
        for _ in range(400):  # until the relay has the deliveries in flight
            in_flight = await factory.count(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s AND attempts > 0",
                endpoint.id,
            )
            if in_flight >= 20:
                break
            await asyncio.sleep(0.05)
        assert in_flight >= 20
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        receiver.gate.set()  # the receiver answers, but nobody is left to hear it
        await asyncio.sleep(0.5)
        before_restart = await statuses(factory, endpoint.id)
        assert before_restart == {"pending": EVENTS}, before_restart

        worker = start_relay(database_url, address, tmp_path / "worker.log")
        for _ in range(600):
            if await statuses(factory, endpoint.id) == {"delivered": EVENTS}:
                break
            await asyncio.sleep(0.05)
        assert await statuses(factory, endpoint.id) == {"delivered": EVENTS}
        ids = await factory.fetch(
            "SELECT id FROM notifications WHERE recipient_id = %s", customer_id
        )
        expected = {webhook_id(r["id"]) for r in ids}
        got = [r.headers["webhook-id"] for r in receiver.received]
        assert set(got) == expected  # every event arrived; some twice, always with the same id
        assert len(got) >= EVENTS
    finally:
        services.stop(worker)
        receiver.close()
