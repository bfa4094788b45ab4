"""An operator resets a settled request's workflow (the Temporal UI's Reset): to before its settle,
or to its first workflow task. The new run re-executes from there, and still nothing happens
twice: one outcome, one ending of the association, no record or notification repeated."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from domain.types import Actor, Decision, DecisionAction, Side
from tests.factories import command
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(120)]


async def reset_to(client: Client, workflow_id: str, choose) -> str:
    """Reset the workflow to the WorkflowTaskCompleted event `choose` picks from its history;
    returns the new run's id."""
    handle = client.get_workflow_handle(workflow_id)
    events = (await handle.fetch_history()).events
    event_id = choose(events)
    described = await handle.describe()
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=described.run_id),
            reason="an operator's reset, in a test",
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
        )
    )
    return response.run_id


def first_workflow_task(events) -> int:
    return next(
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


def _local_activity_type(event) -> str | None:
    """The activity a local activity's marker records, if the event is one."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity":
        return None
    return json.loads(marker.details["data"].payloads[0].data)["activity_type"]


def just_before_the_settle(events) -> int:
    """The workflow task before the one that settled: a local activity's marker is written by
    the task that ran it, so the reset goes to the task before that one."""
    settled_by = next(
        e.marker_recorded_event_attributes.workflow_task_completed_event_id
        for e in events
        if _local_activity_type(e) == "settle_request"
    )
    return max(
        e.event_id for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        and e.event_id < settled_by
    )  # fmt: skip


async def effects(factory, world, request_id) -> dict:
    records = await factory.fetch(
        "SELECT kind, action FROM association_records WHERE association_id = %s"
        " ORDER BY kind, action",
        world.association_id,
    )
    notes = await factory.fetch(
        "SELECT event_type, recipient_kind FROM notifications WHERE request_id = %s"
        " ORDER BY event_type, recipient_kind",
        request_id,
    )
    [request] = await factory.fetch(
        "SELECT status, decided_by FROM requests WHERE id = %s", request_id
    )
    [association] = await factory.fetch(
        "SELECT status, ended_at FROM associations WHERE id = %s", world.association_id
    )
    return {
        "records": [(r["kind"], r["action"]) for r in records],
        "notifications": [(n["event_type"], n["recipient_kind"]) for n in notes],
        "request": request,
        "association": association,
    }


@pytest.mark.parametrize("to", [just_before_the_settle, first_workflow_task])
async def test_a_reset_never_settles_twice(dev_env, dev_worker, task_queue, factory, to):
    client = dev_env.client
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER, response_window=timedelta(seconds=3))
    assert (await starter.submit(client, cmd, task_queue)).accepted
    workflow_id = f"disassociation-{cmd.request_id}"
    agree = Decision(
        action=DecisionAction.AGREE,
        actor=Actor(kind="partner_user", id=str(world.partner_admin_id), side=Side.PARTNER),
    )
    assert (await starter.decide(client, workflow_id, agree)).status.value == "agreed"
    handle = client.get_workflow_handle_for(RequestWorkflow.run, workflow_id)
    await handle.result()
    before = await effects(factory, world, cmd.request_id)
    assert before["records"] == [
        ("association", "associated"), ("association", "ended"),
        ("disassociation", "agreed"), ("disassociation", "requested"),
    ]  # fmt: skip

    new_run = await reset_to(client, workflow_id, to)
    # The new run waits out the deadline (3 s) if the reset undid the decision, then finds the
    # request settled; or, reset to its start, finds it settled at once.
    outcome = await asyncio.wait_for(
        client.get_workflow_handle_for(RequestWorkflow.run, workflow_id, run_id=new_run).result(),
        timeout=60,
    )
    assert outcome.outcome == "agreed"
    assert await effects(factory, world, cmd.request_id) == before
