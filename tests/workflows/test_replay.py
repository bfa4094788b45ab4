"""Recorded histories of every path, replayed against today's workflow code: a change that would
break a running request's replay (non-determinism) fails here, before it reaches a worker.

Requests are pinned to the worker build they started on (Worker Versioning), so a change that
breaks these histories is not refused: it ships as a new build beside the old one
(docs/DEPLOY.md, "Shipping a workflow change"). This test says which kind of change a build is:
green, the new code can take over running requests; red, it needs the rainbow. After an
intended change, `make histories` records today's paths again.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from contract import OperatorDecision, ReconcileInput
from domain.types import AccountStanding, RequestKind, Side, workflow_id_for
from tests.api.test_disassociations import decide, submit
from tests.factories import bearer, command
from tests.workflows.test_deadlines import admitted
from workflows import starter
from workflows.reconciler import ReconcileWorkflow
from workflows.request import RequestWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
RECORDED = HISTORIES / "requests"
PATHS = {
    "requests": (
        "agree",
        "reject",
        "withdraw",
        "check_failed",
        "operator_reject",
        "expire",
        "auto_agree_with_reminder",
        "cancelled_workflow",
        "operator_cancel",
        "reconcile",
        "type_change_agree",
        "type_change_expire",
        "partner_change_completed",
        "partner_change_expire",
    )
}
RECORDING = os.environ.get("ASSOCFLOW_RECORD_HISTORIES") == "1"


def test_every_path_has_a_recorded_history():
    for version, paths in PATHS.items():
        recorded = sorted(p.stem for p in (HISTORIES / version).glob("*.json"))
        assert recorded == sorted(paths), version


@pytest.mark.parametrize(
    ("version", "path"), [(v, p) for v, paths in PATHS.items() for p in paths], ids=str
)
async def test_history_replays_with_todays_code(version, path):
    text = (HISTORIES / version / f"{path}.json").read_text()
    history = WorkflowHistory.from_json(f"replay-{version}-{path}", text)
    replayer = Replayer(
        workflows=[RequestWorkflow, ReconcileWorkflow],
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)  # raises on non-determinism


# --- recording (make histories) ---------------------------------------------------------------

record = pytest.mark.skipif(
    not RECORDING, reason="set ASSOCFLOW_RECORD_HISTORIES=1 (make histories)"
)


async def save(
    client, request_id, name: str, kind: RequestKind = RequestKind.DISASSOCIATION
) -> None:
    handle = client.get_workflow_handle(workflow_id_for(kind, request_id))
    for _ in range(100):
        if (await handle.describe()).status.name != "RUNNING":
            break
        await asyncio.sleep(0.05)
    history = await handle.fetch_history()
    RECORDED.mkdir(parents=True, exist_ok=True)
    (RECORDED / f"{name}.json").write_text(history.to_json())


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

    task_queue = api._transport.app.state.settings.task_queue
    world = await factory.world(standing=AccountStanding(unused_vouchers=1))
    cmd = command(world, Side.PARTNER)
    assert not (await starter.submit(dev_env.client, cmd, task_queue)).accepted
    await save(dev_env.client, cmd.request_id, "check_failed")

    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    await dev_env.client.get_workflow_handle(f"disassociation-{request['id']}").cancel()
    await save(dev_env.client, request["id"], "cancelled_workflow")

    world = await factory.world()
    request = (await submit(api, world.partner_admin, world.association_id)).json()
    cancelled = await api.post(
        f"/v1/admin/disassociations/{request['id']}/cancel",
        json={"reason": "Entered twice"},
        headers=bearer(await factory.token("operator", "olivia")),
    )
    assert cancelled.json()["status"] == "cancelled"
    await save(dev_env.client, request["id"], "operator_cancel")

    world = await factory.world()
    body = {"association_id": str(world.association_id), "new_type": "referral",
            "reason": "Only advice now", "acknowledged": True}  # fmt: skip
    request = (
        await api.post("/v1/type-changes", json=body, headers=bearer(world.partner_admin))
    ).json()
    agreed = await api.post(
        f"/v1/type-changes/{request['id']}/agree", json=None, headers=bearer(world.customer)
    )
    assert agreed.json()["status"] == "agreed"
    await save(dev_env.client, request["id"], "type_change_agree", RequestKind.TYPE_CHANGE)

    world = await factory.world()
    target = await factory.partner()
    _, target_admin = await factory.user(target, ["admin"])
    body = {"association_id": str(world.association_id), "new_partner_id": str(target),
            "reason": "Closer to us", "acknowledged": True}  # fmt: skip
    request = (
        await api.post("/v1/partner-changes", json=body, headers=bearer(world.customer))
    ).json()
    for token, action in ((world.partner_admin, "agree"), (target_admin, "accept")):
        answered = await api.post(
            f"/v1/partner-changes/{request['id']}/{action}", json=None, headers=bearer(token)
        )
        assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "completed"
    await save(
        dev_env.client, request["id"], "partner_change_completed", RequestKind.PARTNER_CHANGE
    )

    # The reconciler's round, with a request whose workflow was terminated to repair.
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    handle = dev_env.client.get_workflow_handle(f"disassociation-{request['id']}")
    await handle.terminate(reason="recording the reconciler")
    await asyncio.sleep(1)  # the workflow list is eventually consistent
    round_id = f"reconcile-{uuid.uuid4()}"
    repaired = await dev_env.client.execute_workflow(
        ReconcileWorkflow.run, ReconcileInput(), id=round_id, task_queue=task_queue
    )
    assert UUID(request["id"]) in repaired.repaired
    history = await dev_env.client.get_workflow_handle(round_id).fetch_history()
    (RECORDED / "reconcile.json").write_text(history.to_json())


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
        RequestWorkflow.reject, OperatorDecision(operator="alice", reason="duplicate")
    )
    await handle.result()
    await save(ts_env.client, cmd.request_id, "operator_reject")

    world = await factory.world()
    cmd = command(world, Side.CUSTOMER, kind=RequestKind.TYPE_CHANGE)  # expires, whoever asked
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    await handle.result()
    await save(ts_env.client, cmd.request_id, "type_change_expire", RequestKind.TYPE_CHANGE)

    world = await factory.world()
    cmd = command(world, Side.CUSTOMER, kind=RequestKind.PARTNER_CHANGE).model_copy(
        update={"new_partner_id": await factory.partner(), "new_partner_name": "New"}
    )  # nobody answers: the new partner's silence expires it
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    await handle.result()
    await save(ts_env.client, cmd.request_id, "partner_change_expire", RequestKind.PARTNER_CHANGE)
