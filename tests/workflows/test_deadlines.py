"""Deadlines measured in days, on the time-skipping test server: auto-agree, expiry, reminders,
the env vars that choose the outcome, the request limit across months, and operator signals."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle

from assocflow.settings import Settings
from contract import Admission, OperatorDecision, RequestSnapshot
from domain.types import RequestKind, RequestStatus, Side
from tests.factories import command
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.timeskipping


async def admitted(handle: WorkflowHandle) -> Admission:
    """Poll the `state` query until the request is accepted or refused (no Updates here)."""
    for _ in range(200):
        state = await handle.query(RequestWorkflow.state)
        if state.admission is not None:
            return state.admission
        await asyncio.sleep(0.05)
    raise AssertionError("the request was neither accepted nor refused")


async def settled(handle: WorkflowHandle) -> RequestSnapshot:
    """Poll until the request is settled, without `result()`: waiting on a result lets the test
    server skip time freely (to the next timer of any workflow), which a test that compares
    moments across requests cannot afford."""
    for _ in range(200):
        state = await handle.query(RequestWorkflow.state)
        if state.request is not None and state.request.status is not RequestStatus.PENDING:
            return state.request
        await asyncio.sleep(0.05)
    raise AssertionError("the request was not settled")


async def run_to_end(ts_env, ts_worker, cmd) -> tuple[Admission, Admission]:
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    admission = await admitted(handle)
    return admission, await handle.result()


def just_after(moment, expected) -> bool:
    """Timers fire at their time or a few milliseconds later, never before."""
    return expected <= moment < expected + timedelta(seconds=2)


async def notifications(factory, request_id) -> list[dict]:
    return await factory.fetch(
        "SELECT event_type, recipient_kind, created_at FROM notifications WHERE request_id = %s"
        " ORDER BY created_at, event_type, recipient_kind",
        request_id,
    )


async def association_status(factory, world) -> str:
    [row] = await factory.fetch(
        "SELECT status FROM associations WHERE id = %s", world.association_id
    )
    return row["status"]


async def test_customer_request_is_auto_agreed_after_ten_days_with_a_reminder_48h_before(
    ts_env, ts_worker, factory
):
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER)
    admission, final = await run_to_end(ts_env, ts_worker, cmd)
    request = final.request
    assert admission.accepted
    assert request.respond_by - request.submitted_at == timedelta(days=10)
    assert request.status is RequestStatus.AUTO_AGREED
    assert just_after(request.decided_at, request.respond_by)
    assert request.decided_by == "system:assocflow"
    assert await association_status(factory, world) == "ended"
    sent = await notifications(factory, cmd.request_id)
    reminder = [n for n in sent if n["event_type"] == "disassociation.reminder"]
    assert [n["recipient_kind"] for n in reminder] == ["partner"]
    assert just_after(reminder[0]["created_at"], request.respond_by - timedelta(hours=48))
    assert {(n["event_type"], n["recipient_kind"]) for n in sent} == {
        ("disassociation.requested", "partner"),
        ("disassociation.reminder", "partner"),
        ("disassociation.auto_agreed", "partner"),
        ("disassociation.auto_agreed", "customer"),
        ("association.ended", "partner"),
        ("association.ended", "customer"),
    }


async def test_partner_request_expires_and_the_association_stays(ts_env, ts_worker, factory):
    world = await factory.world()
    cmd = command(world, Side.PARTNER)
    _, final = await run_to_end(ts_env, ts_worker, cmd)
    assert final.request.status is RequestStatus.EXPIRED
    assert await association_status(factory, world) == "active"
    sent = {
        (n["event_type"], n["recipient_kind"]) for n in await notifications(factory, cmd.request_id)
    }
    assert ("disassociation.reminder", "customer") in sent
    assert {("disassociation.expired", "customer"), ("disassociation.expired", "partner")} <= sent
    assert not any(event == "association.ended" for event, _ in sent)


@pytest.mark.parametrize("initiator", list(Side))
async def test_a_type_change_expires_on_its_deadline_whoever_asked(
    ts_env, ts_worker, factory, initiator
):
    """Even where the policy auto-agrees a customer's silence, a type change expires: the
    association keeps its type, the counterpart was reminded."""
    world = await factory.world()
    cmd = command(world, initiator, kind=RequestKind.TYPE_CHANGE, on_timeout_partner="auto_agree")
    admission, final = await run_to_end(ts_env, ts_worker, cmd)
    assert admission.accepted
    request = final.request
    assert request.status is RequestStatus.EXPIRED and request.kind is RequestKind.TYPE_CHANGE
    assert just_after(request.decided_at, request.respond_by)
    [row] = await factory.fetch(
        "SELECT association_type FROM associations WHERE id = %s", world.association_id
    )
    assert row["association_type"] == "resale"
    sent = {
        (n["event_type"], n["recipient_kind"]) for n in await notifications(factory, cmd.request_id)
    }
    counterpart = initiator.other.value
    assert sent == {
        ("type_change.requested", counterpart),
        ("type_change.reminder", counterpart),
        ("type_change.expired", "partner"),
        ("type_change.expired", "customer"),
    }


async def test_timeout_outcomes_and_window_come_from_the_env_vars(
    ts_env, ts_worker, factory, monkeypatch
):
    monkeypatch.setenv("ASSOCFLOW_ON_TIMEOUT_CUSTOMER", "expire")
    monkeypatch.setenv("ASSOCFLOW_ON_TIMEOUT_PARTNER", "auto_agree")
    monkeypatch.setenv("ASSOCFLOW_RESPONSE_WINDOW", "P3D")
    monkeypatch.setenv("ASSOCFLOW_REMINDER_BEFORE", "PT12H")
    policy = Settings().policy()
    by_customer, by_partner = await factory.world(), await factory.world()
    (_, customer_final), (_, partner_final) = (
        await run_to_end(ts_env, ts_worker, command(by_customer, Side.CUSTOMER, policy)),
        await run_to_end(ts_env, ts_worker, command(by_partner, Side.PARTNER, policy)),
    )
    assert customer_final.request.status is RequestStatus.EXPIRED
    assert partner_final.request.status is RequestStatus.AUTO_AGREED
    assert customer_final.request.respond_by - customer_final.request.submitted_at == timedelta(
        days=3
    )
    assert await association_status(factory, by_customer) == "active"
    assert await association_status(factory, by_partner) == "ended"
    [reminder] = [
        n
        for n in await notifications(factory, partner_final.request.id)
        if n["event_type"] == "disassociation.reminder"
    ]
    assert just_after(
        reminder["created_at"], partner_final.request.respond_by - timedelta(hours=12)
    )


async def test_no_reminder_when_the_window_is_shorter_than_the_lead_time(
    ts_env, ts_worker, factory
):
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER, response_window=timedelta(hours=20))
    _, final = await run_to_end(ts_env, ts_worker, cmd)
    assert final.request.status is RequestStatus.AUTO_AGREED
    events = [n["event_type"] for n in await notifications(factory, cmd.request_id)]
    assert "disassociation.reminder" not in events


async def test_operator_signals_settle_a_request_and_a_reject_without_reason_is_ignored(
    ts_env, ts_worker, factory
):
    world = await factory.world()
    cmd = command(world, Side.CUSTOMER)
    handle = await starter.start(ts_env.client, cmd, ts_worker.task_queue)
    await admitted(handle)
    await handle.signal(RequestWorkflow.reject, OperatorDecision(operator="alice"))
    for _ in range(100):  # the operator sees why nothing happened
        details = (
            await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        ).current_details
        if "Ignored" in details:
            break
        await asyncio.sleep(0.05)
    assert "Ignored the `reject` signal from `alice`: A rejection needs a reason." in details
    await handle.signal(
        RequestWorkflow.reject,
        OperatorDecision(operator="alice", reason="Partner confirmed by phone"),
    )
    final = await settled(handle)
    assert final.status is RequestStatus.REJECTED
    assert final.decided_by == "temporal_ui:alice (unverified)"
    assert final.decision_reason == "Partner confirmed by phone"
    assert final.decided_at < final.respond_by - timedelta(
        days=9
    )  # settled at once, not at the deadline
    events = [n["event_type"] for n in await notifications(factory, cmd.request_id)]
    assert "disassociation.reminder" not in events  # decided before the reminder was due
    assert await association_status(factory, world) == "active"

    other = await factory.world()
    handle = await starter.start(ts_env.client, command(other, Side.PARTNER), ts_worker.task_queue)
    await admitted(handle)
    await handle.signal(RequestWorkflow.agree)  # no input at all, as from a bare UI click
    final = await settled(handle)
    assert final.status is RequestStatus.AGREED
    assert final.decided_by == "temporal_ui:anonymous (unverified)"
    assert await association_status(factory, other) == "ended"


async def test_request_limit_holds_for_three_calendar_months_of_workflow_time(
    ts_env, ts_worker, factory
):
    world = await factory.world()
    handle = await starter.start(ts_env.client, command(world, Side.CUSTOMER), ts_worker.task_queue)
    await admitted(handle)
    await handle.signal(RequestWorkflow.reject, OperatorDecision(reason="not now"))
    rejected = await settled(handle)
    assert rejected.status is RequestStatus.REJECTED

    handle = await starter.start(ts_env.client, command(world, Side.CUSTOMER), ts_worker.task_queue)
    refused = await admitted(handle)
    assert not refused.accepted and refused.check.failed("within_request_limit")
    # Three calendar months after the counted request (the seconds may differ by test-server time).
    allowed = refused.check.next_allowed_at
    assert (allowed.year * 12 + allowed.month) - (
        rejected.submitted_at.year * 12 + rejected.submitted_at.month
    ) == 3
    assert abs(allowed.day - rejected.submitted_at.day) <= 3  # clamped at a short month's end

    # The partner side has its own allowance meanwhile.
    handle = await starter.start(ts_env.client, command(world, Side.PARTNER), ts_worker.task_queue)
    assert (await admitted(handle)).accepted
    await handle.signal(RequestWorkflow.reject, OperatorDecision(reason="no"))
    await settled(handle)

    await ts_env.sleep(timedelta(days=93))
    handle = await starter.start(ts_env.client, command(world, Side.CUSTOMER), ts_worker.task_queue)
    assert (await admitted(handle)).accepted
    await handle.signal(RequestWorkflow.reject, OperatorDecision(reason="still not"))
    await settled(handle)
