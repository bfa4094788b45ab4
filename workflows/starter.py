"""How requests are started and decided from outside the worker (the API, tools and tests)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TypedDict

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WithStartWorkflowOperation,
    WorkflowHandle,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from contract import (
    Admission,
    Outcome,
    ReconcileInput,
    RequestSnapshot,
    SubmitCommand,
    initial_search_attributes,
)
from domain.types import Decision, workflow_id_for
from workflows import operators
from workflows.reconciler import ReconcileWorkflow
from workflows.request import RequestWorkflow


class _StartOptions(TypedDict):
    id: str
    task_queue: str
    search_attributes: TypedSearchAttributes
    static_summary: str
    static_details: str
    id_conflict_policy: WorkflowIDConflictPolicy
    id_reuse_policy: WorkflowIDReusePolicy


def _start_kwargs(cmd: SubmitCommand, task_queue: str) -> _StartOptions:
    return {
        "id": workflow_id_for(cmd.kind, cmd.request_id),
        "task_queue": task_queue,
        "search_attributes": initial_search_attributes(cmd),
        "static_summary": operators.static_summary(cmd),
        "static_details": operators.static_details(cmd),
        # A retried submit for the same request id joins the running workflow instead of failing...
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        # ...and a request id is never run twice, even after its workflow has closed.
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
    }


async def submit(client: Client, cmd: SubmitCommand, task_queue: str) -> Admission:
    """Start the request's workflow and wait for it to be accepted or refused, in one call.

    If a workflow for this request id has already run to its end (a retry of a submit whose
    answer was lost), its result is the answer.
    """
    start = WithStartWorkflowOperation(RequestWorkflow.run, cmd, **_start_kwargs(cmd, task_queue))
    try:
        return await client.execute_update_with_start_workflow(
            RequestWorkflow.admission, start_workflow_operation=start
        )
    except WorkflowAlreadyStartedError:
        # The start operation keeps the same error for its handle; take it so it is not reported
        # as never retrieved.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()
        handle = client.get_workflow_handle_for(
            RequestWorkflow.run, workflow_id_for(cmd.kind, cmd.request_id)
        )
        outcome = await handle.result()
        return Admission(accepted=outcome.accepted, check=outcome.check, request=outcome.request)


async def start(
    client: Client, cmd: SubmitCommand, task_queue: str, *, task_timeout: timedelta | None = None
) -> WorkflowHandle[RequestWorkflow, Outcome]:
    """Start the request's workflow without waiting (for servers without Updates).

    `task_timeout` is the workflow task's (Temporal's default: 10 s). A message that arrives while
    a local activity runs waits until the task ends, or until the worker renews the task at 80%
    of it; tests that hold a step open on purpose shorten it.
    """
    return await client.start_workflow(
        RequestWorkflow.run, cmd, **_start_kwargs(cmd, task_queue), task_timeout=task_timeout
    )


async def decide(
    client: Client, workflow_id: str, decision: Decision, *, update_id: str | None = None
) -> RequestSnapshot:
    """Send `decision` to the request's workflow and wait for the settled request. The same
    `update_id` sent again attaches to the first if the server has it."""
    handle = client.get_workflow_handle_for(RequestWorkflow.run, workflow_id)
    return await handle.execute_update(RequestWorkflow.decide, decision, id=update_id)


def reconciler_schedule_id(task_queue: str) -> str:
    """One reconciler per deployment (its task queue): the Schedules page lists it by this id."""
    return f"reconciler-{task_queue}"


def reconciler_schedule(task_queue: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileInput(),
            id=f"{reconciler_schedule_id(task_queue)}-round",
            task_queue=task_queue,
            static_summary="Settle requests whose workflow closed without an outcome",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A round still running when the next is due: skip the next.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconciler_schedule(client: Client, task_queue: str, every: timedelta) -> bool:
    """Create the reconciler's Schedule if it does not exist (True), or bring an existing one to
    `every` and `task_queue` (False). Every worker calls this at start; concurrent calls leave one
    schedule."""
    wanted = reconciler_schedule(task_queue, every)
    schedule_id = reconciler_schedule_id(task_queue)
    try:
        await client.create_schedule(schedule_id, wanted)
        return True
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    current = (await handle.describe()).schedule
    action = current.action
    if (
        current.spec.intervals == wanted.spec.intervals
        and isinstance(action, ScheduleActionStartWorkflow)
        and action.task_queue == task_queue
    ):
        return False

    def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=wanted)

    await handle.update(update)
    return False
