"""Operators decide from the command line: `assocflow requests agree|reject|cancel`, recorded
under their name, and refused in words when the request cannot be decided."""

from __future__ import annotations

import asyncio
import getpass
import subprocess

import pytest

from devstack import services
from domain.types import RequestKind, Side
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
        "SELECT status, decided_by, decision_reason FROM requests WHERE id = %s",
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


async def test_an_operator_lists_and_decides_type_changes_from_the_cli(
    dev_env, dev_worker, task_queue, database_url, factory
):
    temporal = dev_env.client.service_client.config.target_host
    operator = f"operator:cli:{getpass.getuser()}"
    worlds = [await factory.world() for _ in range(3)]
    cmds = [command(w, Side.CUSTOMER, kind=RequestKind.TYPE_CHANGE) for w in worlds]
    for cmd in cmds:
        assert (await starter.submit(dev_env.client, cmd, task_queue)).accepted
    agreed, rejected, cancelled = (str(cmd.request_id) for cmd in cmds)

    listed = await assocflow(
        "type-changes", "list", "--status", "pending", "--limit", "100",
        database_url=database_url, temporal=temporal,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    for request_id in (agreed, rejected, cancelled):
        assert "pending" in lines[request_id] and "resale -> referral" in lines[request_id]

    outcomes = []
    for verb, request_id, extra in (
        ("agree", agreed, []),
        ("reject", rejected, ["--reason", "Not this quarter"]),
        ("cancel", cancelled, ["--reason", "Entered twice"]),
    ):
        done = await assocflow(
            "type-changes", verb, request_id, *extra, database_url=database_url, temporal=temporal
        )
        assert done.returncode == 0, done.stderr
        outcomes.append(done.stdout.split())
    assert outcomes == [
        [agreed, "agreed", "by", operator],
        [rejected, "rejected", "by", operator],
        [cancelled, "cancelled", "by", operator],
    ]
    types = await factory.fetch(
        "SELECT association_type FROM associations WHERE id = ANY(%s) ORDER BY association_type",
        [w.association_id for w in worlds],
    )
    assert [row["association_type"] for row in types] == ["referral", "resale", "resale"]
    # A disassociation's id is not a type change's.
    wrong_kind = await assocflow(
        "requests", "agree", agreed, database_url=database_url, temporal=temporal
    )
    assert wrong_kind.returncode == 1 and wrong_kind.stderr.startswith("not_found: ")


async def test_an_operator_lists_and_cancels_partner_changes_from_the_cli(
    dev_env, dev_worker, task_queue, database_url, factory
):
    temporal = dev_env.client.service_client.config.target_host
    world = await factory.world()
    target = await factory.partner()
    cmd = command(world, Side.CUSTOMER, kind=RequestKind.PARTNER_CHANGE).model_copy(
        update={"new_partner_id": target, "new_partner_name": "New"}
    )
    assert (await starter.submit(dev_env.client, cmd, task_queue)).accepted
    request_id = str(cmd.request_id)
    listed = await assocflow(
        "partner-changes", "list", "--status", "pending", "--limit", "100",
        database_url=database_url, temporal=temporal,
    )  # fmt: skip
    line = next(line for line in listed.stdout.splitlines() if line.startswith(request_id))
    assert f"partner {world.partner_id} -> {target}" in line and "pending" in line
    done = await assocflow(
        "partner-changes", "cancel", request_id, "--reason", "Asked by phone to stop",
        database_url=database_url, temporal=temporal,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == [request_id, "cancelled"]
    active = await factory.fetch(
        "SELECT partner_id FROM associations WHERE customer_id = %s AND status = 'active'",
        world.customer_id,
    )
    assert [row["partner_id"] for row in active] == [world.partner_id]
