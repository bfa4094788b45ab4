"""A request's short PostgreSQL steps run as local activities: no round
trip through the task queue, yet each step is still named in the history the Temporal UI shows,
with the same summary it had as a regular activity."""

from __future__ import annotations

import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.types import Actor, Decision, DecisionAction, Side
from tests.factories import command
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.devserver


def markers(events, name: str, detail: str) -> list[tuple[object, dict]]:
    """Each marker named `name` the history records: its event, and its `detail` as JSON."""
    return [
        (event, json.loads(event.marker_recorded_event_attributes.details[detail].payloads[0].data))
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == name
    ]


def local_steps(events) -> list[tuple[str, str]]:
    """Each local activity the history records: its name and the summary the UI shows."""
    return [
        (
            data["activity_type"],
            pydantic_data_converter.payload_converter.from_payload(
                event.user_metadata.summary, str
            ),
        )
        for event, data in markers(events, "core_local_activity", "data")
    ]


def patches(events) -> list[str]:
    """The patch of each patch marker the history records."""
    return [data["id"] for _, data in markers(events, "core_patch", "patch-data")]


async def test_each_step_is_a_local_activity_named_in_the_history(
    dev_env, dev_worker, task_queue, factory
):
    client = dev_env.client
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER)
    assert (await starter.submit(client, cmd, task_queue)).accepted
    workflow_id = f"disassociation-{cmd.request_id}"
    agree = Decision(
        action=DecisionAction.AGREE,
        actor=Actor(kind="partner_user", id=str(world.partner_admin_id), side=Side.PARTNER),
    )
    await starter.decide(client, workflow_id, agree)
    handle = client.get_workflow_handle_for(RequestWorkflow.run, workflow_id)
    await handle.result()
    events = (await handle.fetch_history()).events

    assert local_steps(events) == [
        (
            "accept_request",
            "Accept: check again under lock, store request, record and notification",
        ),
        ("settle_request", "Settle as agreed and end the association"),
    ]
    scheduled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert scheduled == []  # nothing went through the task queue
    # One path: no patch marker (no TemporalChangeVersion upsert either).
    assert patches(events) == []
    upserts = [
        e for e in events if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert len(upserts) == 2  # accepted (pending, RespondBy), settled (agreed)
