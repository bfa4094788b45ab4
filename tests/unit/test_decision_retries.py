"""A decision whose Update the server dropped because the workflow task that was to take it
failed (another message arrived while the task completed the workflow) is sent again, never
answered as a 500; any other refusal from the server is not."""

from __future__ import annotations

from temporalio.service import RPCError, RPCStatusCode

from workflows.gateway import dropped_with_its_task

# As the Temporal server answered it in a whole-suite run (a cancellation racing an agree).
TASK_FAILED = (
    b"\x08\t\x12TUnable to perform workflow execution update due to unexpected workflow task"
    b" failure.\x1aJ\nHtype.googleapis.com/temporal.api.errordetails.v1.WorkflowNotReadyFailure"
)


def test_an_update_dropped_with_its_workflow_task_is_sent_again():
    err = RPCError(
        "Unable to perform workflow execution update due to unexpected workflow task failure.",
        RPCStatusCode.FAILED_PRECONDITION,
        TASK_FAILED,
    )
    assert dropped_with_its_task(err)


def test_other_refusals_are_not_retried():
    other = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    assert not dropped_with_its_task(other)
    precondition = RPCError("something else", RPCStatusCode.FAILED_PRECONDITION, b"")
    assert not dropped_with_its_task(precondition)
