"""One workflow per disassociation request: check and accept, wait for the counterpart or the
deadline, settle.

`run` tells the story. Decisions arrive as the `decide` Update (the parties, operators through the
admin API), as the operators' `agree`/`reject` signals from the Temporal UI, or as a cancellation
of the workflow; whichever claims the request first settles it, and the store's compare-and-set
makes sure nothing is settled twice whatever the timing (retries, resets, the reconciler).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.disassociation import (
        ASSOCIATION_NOT_FOUND,
        REQUEST_NOT_FOUND,
        DisassociationActivities,
    )
    from domain import decisions
    from domain.types import (
        SYSTEM,
        WORKFLOW_CANCELLATION,
        Actor,
        CheckItem,
        CheckResult,
        Decision,
        DecisionAction,
        RequestStatus,
    )
    from workflows.contract import (
        CHECK_FAILED,
        AcceptInput,
        Admission,
        CheckInput,
        OperatorDecision,
        Outcome,
        ReminderInput,
        RequestSnapshot,
        RequestState,
        SettleInput,
        SubmitCommand,
    )
    from workflows.operators import OperatorView

T = TypeVar("T")
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

# Each activity is one short transaction; a worker that dies mid-activity is noticed this soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Database outages are waited out, never turned into a lost request: retries do not give up.
# A local step retries within its workflow task for this long; then each retry waits on a timer
# in the history, so that the task ends and queries and messages are answered in between.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=5)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[ASSOCIATION_NOT_FOUND, REQUEST_NOT_FOUND],
)

# Requests started from here on: acceptance checks under the association's lock alone (no
# separate check activity), a decision sent while the request is being accepted waits for it
# instead of being refused, a decision at or after respond_by loses to the deadline, the Temporal
# UI's signals are recorded as unverified, a cancelled workflow settles its request as cancelled,
# and a workflow reset to its start finds its request already settled. Requests started before
# keep the first version's path for their whole life (tests/histories/v1 replays it).
LIFECYCLE_2 = "lifecycle-2"

# Requests started from here on run their short PostgreSQL steps (accept, reminder, settle) as
# local activities: in the worker that runs the workflow task, with no round trip through the
# task queue, so a submit and a decision are answered within one workflow task. Each step keeps
# its name and summary in the history (a marker the UI shows as a local activity), its timeout
# and its retries (docs/PERFORMANCE.md says what changes during an outage). Requests started
# before keep regular activities (tests/histories/v2 replays them).
LOCAL_STEPS = "local-steps"

# Requests started from here on take both paths above under one patch: each patch is a marker
# and an upsert of the TemporalChangeVersion search attribute in every request's history, so one
# instead of two is two events and one visibility write fewer per request. Requests started
# before keep their two (tests/histories/v3 replays them).
CURRENT = "lifecycle-3"


@workflow.defn(name="Disassociation")
class DisassociationWorkflow:
    @workflow.init
    def __init__(self, cmd: SubmitCommand) -> None:
        self._cmd = cmd
        if workflow.patched(CURRENT):
            self._v2 = self._local = True
        else:
            self._v2 = workflow.patched(LIFECYCLE_2)
            self._local = self._v2 and workflow.patched(LOCAL_STEPS)
        self._show = OperatorView(cmd)
        self._admission: Admission | None = None
        self._request: RequestSnapshot | None = None
        self._claimed: Decision | None = None
        self._settling: asyncio.Task[RequestSnapshot] | None = None

    @workflow.run
    async def run(self, cmd: SubmitCommand) -> Outcome:
        self._show.checking()
        admitting = asyncio.ensure_future(self._admit())
        try:
            admission = await self._shielded(admitting)
            if admission.accepted and (self._still_pending() or not self._v2):
                await self._wait_for_decision_or_deadline()
        except asyncio.CancelledError:
            if not self._v2:
                raise
            await self._cancelled(admitting)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome()

    # --- messages ---------------------------------------------------------------------------

    @workflow.update
    async def admission(self) -> Admission:
        """Waits until the request is accepted or refused; the API submits with update-with-start."""
        await workflow.wait_condition(lambda: self._admission is not None)
        assert self._admission is not None
        return self._admission

    @workflow.update
    async def decide(self, decision: Decision) -> RequestSnapshot:
        """Agree, reject, withdraw or cancel; answers with the settled request.

        Sent while the request is still being accepted, it waits for the acceptance and is then
        judged like any other.
        """
        if self._admission is None:
            await workflow.wait_condition(lambda: self._admission is not None)
        # The Update's id is kept with the outcome (docs/PERFORMANCE.md, "Local activities: what
        # they change").
        update = workflow.current_update_info()
        decision_id = update.id if update else None
        settled = await self._shielded(self._decide(decision, decision_id))
        if settled.decision_id not in (None, decision_id):
            # Another decision had settled the request in a workflow task Temporal refused:
            # its outcome stands, and this one did not take effect.
            raise ApplicationError(
                f"The request is no longer pending; it is {settled.status.value}.",
                settled.status.value,
                type=decisions.Refusal.NOT_PENDING.value,
            )
        return settled

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        if self._v2 and self._request is None:
            # Not accepted yet: what can be judged now is who decides what; the rest (status,
            # deadline) once it is.
            self._judge(decision, RequestStatus.PENDING, respond_by=None)
        else:
            self._authorize(decision)

    @workflow.signal
    async def agree(self, payload: OperatorDecision | None = None) -> None:
        """Operators in the Temporal UI: agree on the counterpart's behalf."""
        await self._signalled(DecisionAction.AGREE, payload or OperatorDecision())

    @workflow.signal
    async def reject(self, payload: OperatorDecision | None = None) -> None:
        """Operators in the Temporal UI: reject on the counterpart's behalf (a reason is required)."""
        await self._signalled(DecisionAction.REJECT, payload or OperatorDecision())

    @workflow.query
    def state(self) -> RequestState:
        return RequestState(
            admission=self._admission,
            request=self._request,
            settling_as=self._outcome_of(self._claimed) if self._claimed else None,
        )

    # --- the lifecycle ----------------------------------------------------------------------

    async def _admit(self) -> Admission:
        """Check the accounts and accept the request, or refuse it with the failed items."""
        try:
            if not self._v2:
                check = await self._check_accounts()
                if not check.passed:
                    return self._admitted(Admission(accepted=False, check=check))
            admission = await self._step(
                DisassociationActivities.accept_request,
                AcceptInput(command=self._cmd, accepted_at=workflow.now()),
                summary="Accept: check again under lock, store request, record and notification",
            )
        except (ActivityError, ApplicationError) as err:
            # A regular activity's failure comes wrapped in an ActivityError; a local activity's
            # final failure is raised as the activity raised it.
            cause = err.cause if isinstance(err, ActivityError) else err
            if not (isinstance(cause, ApplicationError) and cause.type == ASSOCIATION_NOT_FOUND):
                raise
            missing = CheckItem(
                code="association_active", passed=False, message="The association does not exist."
            )
            admission = Admission(accepted=False, check=CheckResult(passed=False, items=[missing]))
        return self._admitted(admission)

    async def _check_accounts(self) -> CheckResult:
        cmd = self._cmd
        return await workflow.execute_activity_method(
            DisassociationActivities.run_account_check,
            CheckInput(
                association_id=cmd.association_id,
                customer_id=cmd.customer_id,
                initiator=cmd.initiator,
                policy=cmd.policy,
                as_of=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary="Account check",
        )

    def _admitted(self, admission: Admission) -> Admission:
        self._admission = admission
        if not admission.accepted:
            self._show.refused(admission.check)
            return admission
        assert admission.request is not None
        self._request = admission.request
        if self._v2 and not self._still_pending():
            # A workflow reset to its start finds its request settled already: nothing to wait for.
            self._show.settled(self._request)
        else:
            self._show.accepted(self._request, self._reminder_at())
        return admission

    async def _wait_for_decision_or_deadline(self) -> None:
        request = self._request
        assert request is not None
        reminder_at = self._reminder_at()
        if reminder_at is not None and not await self._decided_before(reminder_at, "reminder"):
            await self._step(
                DisassociationActivities.send_reminder,
                ReminderInput(request_id=request.id, at=workflow.now()),
                summary="Remind the counterpart",
            )
            self._show.reminded(request, reminder_at)
        if not await self._decided_before(request.respond_by, "respond_by"):
            self._decide(Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM))
        assert self._settling is not None
        await self._shielded(self._settling)

    async def _cancelled(self, admitting: asyncio.Future[Admission]) -> None:
        """The workflow was cancelled (the Temporal UI's "Request Cancellation", `temporal workflow
        cancel`): the request ends as cancelled, unless another outcome was claimed first or the
        deadline passed while the worker was away (then that outcome stands)."""
        admission = await admitting
        if not admission.accepted:
            return
        if self._claimed is None and self._still_pending():
            cancel = Decision(
                action=DecisionAction.CANCEL,
                actor=WORKFLOW_CANCELLATION,
                reason="The workflow was cancelled in the Temporal UI or CLI.",
            )
            try:
                self._decide(cancel)
            except ApplicationError:
                self._decide(Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM))
        if self._settling is not None:
            await self._settling

    # --- deciding ---------------------------------------------------------------------------

    def _decide(
        self, decision: Decision, decision_id: str | None = None
    ) -> asyncio.Task[RequestSnapshot]:
        """Claim the request for `decision` and start settling it; raise the ApplicationError the
        caller sees if it may not settle the request now.

        Synchronous up to the claim, so two decisions in one workflow task cannot both pass.
        """
        self._authorize(decision)
        self._claimed = decision
        self._settling = asyncio.ensure_future(self._settle(decision, decision_id))
        return self._settling

    def _authorize(self, decision: Decision) -> None:
        if self._request is None:
            if self._v2:  # refused by its account check: there is no request to decide on
                raise ApplicationError(
                    "The request was not accepted: its account check failed.",
                    type=decisions.Refusal.NOT_PENDING.value,
                )
            raise ApplicationError(  # the first version's answer before acceptance
                "The request is still being checked.",
                "checking",
                type=decisions.Refusal.NOT_PENDING.value,
            )
        status = self._outcome_of(self._claimed) if self._claimed else self._request.status
        # The first version had no deadline rule.
        respond_by = self._request.respond_by if self._v2 else None
        self._judge(decision, status, respond_by)

    def _judge(
        self, decision: Decision, status: RequestStatus, respond_by: datetime | None
    ) -> None:
        context = decisions.DecisionContext(
            initiator=self._cmd.initiator,
            status=status,
            respond_by=respond_by,
            on_timeout=decisions.timeout_outcome(self._cmd.policy, self._cmd.initiator),
        )
        try:
            decisions.authorize(decision, context, workflow.now())
        except decisions.DecisionRefused as refused:
            details = [refused.status.value] if refused.status else []
            raise ApplicationError(str(refused), *details, type=refused.code.value) from None

    async def _settle(self, decision: Decision, decision_id: str | None) -> RequestSnapshot:
        assert self._request is not None
        outcome = self._outcome_of(decision)
        self._show.settling(outcome, decision.actor)
        settled = await self._step(
            DisassociationActivities.settle_request,
            SettleInput(
                request_id=self._request.id,
                outcome=outcome,
                actor=decision.actor,
                reason=decision.reason,
                decided_at=workflow.now(),
                decision_id=decision_id,
            ),
            summary=f"Settle as {outcome.value}"
            + (" and end the association" if outcome.ends_association else ""),
        )
        self._request = settled
        self._show.settled(settled)
        return settled

    async def _signalled(self, action: DecisionAction, payload: OperatorDecision) -> None:
        await workflow.wait_condition(lambda: self._admission is not None)
        # Nothing proves who typed the name in the Temporal UI: it is kept, marked unverified.
        actor = (
            Actor(kind="temporal_ui", id=payload.operator, verified=False)
            if self._v2
            else Actor(kind="operator", id=payload.operator)
        )
        decision = Decision(action=action, actor=actor, reason=payload.reason or None)
        try:
            settling = self._decide(decision)
        except ApplicationError as refused:
            self._show.ignored(action, payload.operator, refused.message)
            return
        await settling

    # --- helpers ------------------------------------------------------------------------------

    async def _step(
        self, activity: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT, *, summary: str
    ) -> ResultT:
        """One short PostgreSQL step: a local activity for requests started since
        `LOCAL_STEPS`, a regular one before; the same timeout and retries either way."""
        if self._local:
            return await workflow.execute_local_activity_method(
                activity,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                local_retry_threshold=LOCAL_RETRY_THRESHOLD,
                summary=summary,
            )
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=summary,
        )

    async def _decided_before(self, deadline: datetime, timer_summary: str) -> bool:
        """Wait until a decision is claimed or `deadline` passes; True if one was claimed."""
        remaining = deadline - workflow.now()
        if remaining > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._claimed is not None,
                    timeout=remaining,
                    timeout_summary=timer_summary,
                )
        return self._claimed is not None

    def _reminder_at(self) -> datetime | None:
        assert self._request is not None
        return self._cmd.policy.reminder_at(self._request.submitted_at)

    def _still_pending(self) -> bool:
        return self._request is not None and self._request.status is RequestStatus.PENDING

    def _outcome_of(self, decision: Decision) -> RequestStatus:
        return decisions.outcome_of(decision, self._cmd.policy, self._cmd.initiator)

    def _outcome(self) -> Outcome:
        admission = self._admission
        assert admission is not None
        if not admission.accepted:
            return Outcome(accepted=False, check=admission.check, outcome=CHECK_FAILED)
        assert self._request is not None
        return Outcome(
            accepted=True,
            check=admission.check,
            request=self._request,
            outcome=self._request.status,
        )

    async def _shielded(self, awaitable: Awaitable[T]) -> T:
        """Await a step a cancellation must not cut short (the first version let it)."""
        if self._v2:
            return await asyncio.shield(awaitable)
        return await awaitable
