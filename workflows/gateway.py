"""Temporal, as the use cases see it: start a request and learn whether it was accepted, send it a
decision and learn what came of it, ask whether the server answers.

Every call answers with a typed outcome. Temporal's errors are mapped here, by their types, and
nowhere else; so are the ids of decisions (an Update's id) and the resend of an Update the server
dropped. The application layer imports nothing of the SDK.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import uuid4

from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from contract import Admission, RequestSnapshot, SubmitCommand
from domain.decisions import Refusal
from domain.types import Decision, RequestStatus
from workflows import starter

# How soon an Update the server dropped with its workflow task is sent again.
RESEND_AFTER = 0.05


# --- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admitted:
    """The request's workflow accepted the request, or refused it with its check."""

    admission: Admission


@dataclass(frozen=True)
class Settled:
    """The decision took effect: the request as it was settled."""

    request: RequestSnapshot


@dataclass(frozen=True)
class Refused:
    """The workflow refused the decision by the domain's rules (`code` is a `Refusal`); `status`
    is the request's, where the workflow said it."""

    code: Refusal
    message: str
    status: RequestStatus | None


@dataclass(frozen=True)
class Failed:
    """The workflow failed the decision for a reason of its own (not a rule's refusal)."""


@dataclass(frozen=True)
class Closed:
    """No running workflow for the request: it closed (settling its request, unless it was
    terminated), or never was."""


@dataclass(frozen=True)
class Late:
    """No answer in time; what was sent may still take effect."""


@dataclass(frozen=True)
class Unreachable:
    """Temporal cannot be reached; nothing was sent."""


SubmitOutcome = Admitted | Late | Unreachable
DecideOutcome = Settled | Refused | Failed | Closed | Late | Unreachable


@dataclass(frozen=True)
class Sent:
    """What came of a decision, and the id it was sent under (kept with the request's outcome
    when it is the one that settled it)."""

    decision_id: str
    outcome: DecideOutcome


# --- the gateway -----------------------------------------------------------------------------


class Gateway:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def submit(self, cmd: SubmitCommand, *, within: float) -> SubmitOutcome:
        """Start the request's workflow and wait up to `within` seconds for its admission."""
        try:
            async with asyncio.timeout(within):
                return Admitted(await starter.submit(self._client, cmd, self._task_queue))
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # The client reports its call cut short by the timeout as its own error.
            return Late()
        except (RPCError, RuntimeError) as error:
            if not unreachable(error):
                raise
            return Unreachable()

    async def decide(self, workflow_id: str, decision: Decision, *, within: float) -> Sent:
        """Send `decision` to the request's workflow (`workflow_id`) and wait up to `within`
        seconds for what came of it."""
        decision_id = str(uuid4())
        try:
            async with asyncio.timeout(within):
                settled = await self._until_taken(workflow_id, decision, decision_id)
        except WorkflowUpdateFailedError as error:
            return Sent(decision_id, _refused(error))
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return Sent(decision_id, Late())
        except (RPCError, RuntimeError) as error:
            if isinstance(error, RPCError) and error.status is RPCStatusCode.NOT_FOUND:
                return Sent(decision_id, Closed())
            if not unreachable(error):
                raise
            return Sent(decision_id, Unreachable())
        return Sent(decision_id, Settled(settled))

    async def ping(self) -> None:
        """A round trip to the server; raises if it does not answer."""
        await self._client.workflow_service.get_system_info(GetSystemInfoRequest())

    async def _until_taken(
        self, workflow_id: str, decision: Decision, decision_id: str
    ) -> RequestSnapshot:
        while True:
            try:
                return await starter.decide(
                    self._client, workflow_id, decision, update_id=decision_id
                )
            except RPCError as error:
                if not dropped_with_its_task(error):
                    raise
            await asyncio.sleep(RESEND_AFTER)


def _refused(error: WorkflowUpdateFailedError) -> Refused | Failed:
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type not in _REFUSALS:
        return Failed()
    status = RequestStatus(cause.details[0]) if cause.details else None
    return Refused(Refusal(cause.type), cause.message, status)


_REFUSALS = {refusal.value for refusal in Refusal}


def dropped_with_its_task(error: RPCError) -> bool:
    """The workflow task that was to take the Update failed before it did (Temporal refused its
    completion because another message arrived meanwhile, e.g. a cancellation while a settle
    completed the workflow): the Update was never admitted, and is sent again with its id."""
    return error.status is RPCStatusCode.FAILED_PRECONDITION and any(
        detail.Is(WorkflowNotReadyFailure.DESCRIPTOR) for detail in error.grpc_status.details
    )


def unreachable(error: BaseException) -> bool:
    """Temporal could not be reached (never connected, or the connection is down)."""
    if isinstance(error, RPCError):
        return error.status in (
            RPCStatusCode.UNAVAILABLE,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.CANCELLED,
        )
    # A lazy client that cannot connect raises this, and no error type of its own.
    return isinstance(error, RuntimeError) and str(error).startswith("Failed client connect")
