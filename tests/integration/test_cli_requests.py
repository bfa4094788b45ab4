"""Operators decide from the command line: `assocflow requests agree|reject|cancel`, recorded
under their name, and refused in words when the request cannot be decided."""

from __future__ import annotations

import asyncio
import getpass
import subprocess

import pytest

from devstack import services
from domain.types import Side
from tests.factories import command
from workflows import starter

pytestmark = pytest.mark.devserver


async def assocflow(
    *args: str, database_url: str, temporal: str
) -> subprocess.CompletedProcess[str]:
    """The CLI, in a thread: the test's own worker runs on this event loop."""
    env = services.child_env(DATABASE_URL=database_url, TEMPORAL_ADDRESS=temporal)
    return await asyncio.to_thread(
        subprocess.run,
        [str(services.BIN / "assocflow"), *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_an_operator_cancels_and_agrees_from_the_cli(
    dev_env, dev_worker, task_queue, database_url, factory
):
    temporal = dev_env.client.service_client.config.target_host
    operator = f"operator:cli:{getpass.getuser()}"
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER)
    assert (await starter.submit(dev_env.client, cmd, task_queue)).accepted
    request_id = str(cmd.request_id)

    no_reason = await assocflow(
        "requests", "cancel", request_id, database_url=database_url, temporal=temporal
    )
    assert no_reason.returncode == 2 and "reason" in no_reason.stderr

    done = await assocflow(
        "requests", "cancel", request_id, "--reason", "Duplicate of another request",
        database_url=database_url, temporal=temporal,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [request_id, "cancelled", "by", operator]
    [row] = await factory.fetch(
        "SELECT status, decided_by, decision_reason FROM disassociation_requests WHERE id = %s",
        cmd.request_id,
    )
    assert row == {
        "status": "cancelled", "decided_by": operator,
        "decision_reason": "Duplicate of another request",
    }  # fmt: skip

    again = await assocflow(
        "requests", "agree", request_id, database_url=database_url, temporal=temporal
    )
    assert again.returncode == 1
    assert again.stderr.startswith("not_pending: ") and "cancelled" in again.stderr
