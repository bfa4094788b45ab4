"""Recorded histories of every path, replayed against today's workflow code: a change that would
break a running request's replay (non-determinism) fails here, before it reaches a worker.

Refresh the recordings (after an intended, compatible change) with `make histories`.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.types import AccountStanding, OperatorDecision, Side
from tests.api.test_disassociations import decide, submit
from tests.factories import command
from tests.workflows.test_deadlines import admitted
from workflows import starter
from workflows.disassociation import DisassociationWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
PATHS = (
    "agree",
    "reject",
    "withdraw",
    "check_failed",
    "operator_reject",
    "expire",
    "auto_agree_with_reminder",
)
RECORDING = os.environ.get("ASSOCFLOW_RECORD_HISTORIES") == "1"


def test_every_path_has_a_recorded_history():
    assert sorted(p.stem for p in HISTORIES.glob("*.json")) == sorted(PATHS)


@pytest.mark.parametrize("path", PATHS)
async def test_history_replays_with_todays_code(path):
    history = WorkflowHistory.from_json(f"replay-{path}", (HISTORIES / f"{path}.json").read_text())
    replayer = Replayer(workflows=[DisassociationWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)  # raises on non-determinism


# --- recording (make histories) ---------------------------------------------------------------

record = pytest.mark.skipif(
    not RECORDING, reason="set ASSOCFLOW_RECORD_HISTORIES=1 (make histories)"
)


async def save(client, request_id, name: str) -> None:
    handle = client.get_workflow_handle(f"disassociation-{request_id}")
    for _ in range(100):
        if (await handle.describe()).status.name != "RUNNING":
            break
        await asyncio.sleep(0.05)
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())


@record
@pytest.mark.devserver
async def test_record_paths_with_updates(api, factory, dev_env):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    await decide(api, world.partner_admin, request["id"], "agree", reason="fine")
    await save(dev_env.client, request["id"], "agree")

    world = await factory.world()
    request = (await submit(api, world.partner_admin, world.association_id)).json()
    await decide(api, world.customer, request["id"], "reject", reason="not now")
    await save(dev_env.client, request["id"], "reject")

    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    await decide(api, world.customer, request["id"], "withdraw")
    await save(dev_env.client, request["id"], "withdraw")

    world = await factory.world(standing=AccountStanding(unused_vouchers=1))
    cmd = command(world, Side.PARTNER)
    assert not (
        await starter.submit(dev_env.client, cmd, api._transport.app.state.settings.task_queue)
    ).accepted
    await save(dev_env.client, cmd.request_id, "check_failed")


@record
@pytest.mark.timeskipping
async def test_record_paths_with_timers(ts_env, ts_worker, factory):
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER)  # ten days, a reminder 48 h before, then auto-agreed
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    await handle.result()
    await save(ts_env.client, cmd.request_id, "auto_agree_with_reminder")

    world = await factory.world()
    cmd = command(world, Side.PARTNER, response_window=timedelta(hours=20))
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    await handle.result()
    await save(ts_env.client, cmd.request_id, "expire")

    world = await factory.world()
    cmd = command(world, Side.CUSTOMER)
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    await admitted(handle)
    await handle.signal(
        DisassociationWorkflow.reject, OperatorDecision(operator="alice", reason="duplicate")
    )
    await handle.result()
    await save(ts_env.client, cmd.request_id, "operator_reject")
