"""The consent process, one workflow per request of any kind (a disassociation, a type change):
check and accept, wait for the counterpart or the deadline, settle.

What differs by kind is not here: the check's items, the deadline's outcome, what agreement
changes and the words are the domain's (domain/kinds.py), applied by the activities; this workflow
is the one shape every kind runs.

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
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.requests import (
        ASSOCIATION_NOT_FOUND,
        REQUEST_NOT_FOUND,
        RequestActivities,
    )
    from contract import (
        CHECK_FAILED,
        REQUEST_WORKFLOW,
        AcceptInput,
        Admission,
        ConsentInput,
        GivenConsent,
        OperatorDecision,
        Outcome,
        ReminderInput,
        RequestSnapshot,
        RequestState,
        SettleInput,
        SubmitCommand,
    )
    from domain import decisions, kinds
    from domain.types import (
        SYSTEM,
        WORKFLOW_CANCELLATION,
        Actor,
        CheckItem,
        CheckResult,
        ConsentGiven,
        Decision,
        DecisionAction,
        RequestStatus,
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


# Pinned: a request runs its whole life on the worker build it started on (Worker Versioning);
# a changed workflow ships as a new build beside the old one (docs/DEPLOY.md, "Shipping a
# workflow change"), never as a branch in this code.
@workflow.defn(name=REQUEST_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class RequestWorkflow:
    @workflow.init
    def __init__(self, cmd: SubmitCommand) -> None:
        self._cmd = cmd
        self._show = OperatorView(cmd)
        self._admission: Admission | None = None
        self._request: RequestSnapshot | None = None
        self._claimed: Decision | None = None
        self._settling_as: RequestStatus | None = None
        # The answers given so far, by whom (a request that awaits more than one consent), and
        # the steps that record them.
        self._given: dict[kinds.Consenter, ConsentGiven] = {}
        self._recording: list[asyncio.Task[RequestSnapshot]] = []
        self._settling: asyncio.Task[RequestSnapshot] | None = None

    @workflow.run
    async def run(self, cmd: SubmitCommand) -> Outcome:
        self._show.checking()
        admitting = asyncio.ensure_future(self._admit())
        try:
            admission = await asyncio.shield(admitting)
            if admission.accepted and self._still_pending():
                await self._wait_for_decision_or_deadline()
        except asyncio.CancelledError:
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
        settled = await asyncio.shield(self._decide(decision, decision_id))
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
        if self._request is None:
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
            settling_as=self._settling_as,
        )

    # --- the lifecycle ----------------------------------------------------------------------

    async def _admit(self) -> Admission:
        """Check the accounts and accept the request, or refuse it with the failed items."""
        try:
            admission = await self._step(
                RequestActivities.accept_request,
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

    def _admitted(self, admission: Admission) -> Admission:
        self._admission = admission
        if not admission.accepted:
            self._show.refused(admission.check)
            return admission
        assert admission.request is not None
        self._request = admission.request
        if not self._still_pending():
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
                RequestActivities.send_reminder,
                ReminderInput(request_id=request.id, at=workflow.now()),
                summary="Remind the counterpart",
            )
            self._show.reminded(request, reminder_at)
        if not await self._decided_before(request.respond_by, "respond_by"):
            self._decide(Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM))
        assert self._settling is not None
        await asyncio.shield(self._settling)

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
        """Claim the request for `decision` and start settling it, or, for a consent that leaves
        another awaited, record it; raise the ApplicationError the caller sees if it may not take
        effect now.

        Synchronous up to the claim, so two decisions in one workflow task cannot both pass, and
        the second of two consents sees the first.
        """
        self._authorize(decision)
        outcome = self._outcome_of(decision)
        consent = kinds.of(self._cmd.kind).consent_for(decision.action)
        if consent is not None:
            self._given[consent.who] = ConsentGiven(
                decision=decision.action,
                at=workflow.now(),
                by=decision.actor.ref,
                reason=decision.reason,
                association_type=decision.association_type,
            )
        if outcome is None:  # one consent of several: the request still awaits the others
            assert consent is not None
            recording = asyncio.ensure_future(self._record_consent(consent.who, decision_id))
            self._recording.append(recording)
            return recording
        self._claimed, self._settling_as = decision, outcome
        self._settling = asyncio.ensure_future(self._settle(decision, outcome, decision_id))
        return self._settling

    def _authorize(self, decision: Decision) -> None:
        if self._request is None:  # refused by its account check: nothing to decide on
            raise ApplicationError(
                "The request was not accepted: its account check failed.",
                type=decisions.Refusal.NOT_PENDING.value,
            )
        status = self._settling_as or self._request.status
        self._judge(decision, status, self._request.respond_by)

    def _judge(
        self, decision: Decision, status: RequestStatus, respond_by: datetime | None
    ) -> None:
        given = frozenset(self._given)
        context = decisions.DecisionContext(
            initiator=self._cmd.initiator,
            status=status,
            respond_by=respond_by,
            on_timeout=decisions.timeout_outcome(
                self._cmd.kind, self._cmd.policy, self._cmd.initiator, given
            ),
            kind=self._cmd.kind,
            given=given,
        )
        try:
            decisions.authorize(decision, context, workflow.now())
        except decisions.DecisionRefused as refused:
            details = [refused.status.value] if refused.status else []
            raise ApplicationError(str(refused), *details, type=refused.code.value) from None

    async def _settle(
        self, decision: Decision, outcome: RequestStatus, decision_id: str | None
    ) -> RequestSnapshot:
        assert self._request is not None
        # A consent being recorded goes on record (and is told) before the request settles.
        for recording in self._recording:
            await recording
        self._show.settling(outcome, decision.actor)
        settled = await self._step(
            RequestActivities.settle_request,
            SettleInput(
                request_id=self._request.id,
                outcome=outcome,
                actor=decision.actor,
                reason=decision.reason,
                decided_at=workflow.now(),
                decision_id=decision_id,
                consents=self._consents(),
            ),
            summary=f"Settle as {outcome.value}" + self._change_on(outcome),
        )
        self._request = settled
        self._show.settled(settled)
        return settled

    async def _record_consent(
        self, who: kinds.Consenter, decision_id: str | None
    ) -> RequestSnapshot:
        """One consent of several, on record; the request stays pending for the others."""
        assert self._request is not None
        given = frozenset(self._given)
        recorded = await self._step(
            RequestActivities.record_consent,
            ConsentInput(
                request_id=self._request.id,
                consent=GivenConsent(who=who, given=self._given[who]),
                on_timeout=decisions.timeout_outcome(
                    self._cmd.kind, self._cmd.policy, self._cmd.initiator, given
                ),
                decision_id=decision_id,
            ),
            summary=f"Record the {who.value.replace('_', ' ')}'s answer",
        )
        if self._claimed is None:  # a settlement claimed meanwhile has the newer request
            self._request = recorded
            self._show.consented(recorded, who, self._reminder_at())
        return recorded

    def _consents(self) -> list[GivenConsent]:
        return [GivenConsent(who=who, given=given) for who, given in self._given.items()]

    async def _signalled(self, action: DecisionAction, payload: OperatorDecision) -> None:
        await workflow.wait_condition(lambda: self._admission is not None)
        # Nothing proves who typed the name in the Temporal UI: it is kept, marked unverified.
        actor = Actor(kind="temporal_ui", id=payload.operator, verified=False)
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
        """One short PostgreSQL step, as a local activity: in the worker that runs the workflow
        task, with no round trip through the task queue, so that a submit and a decision are
        answered within one workflow task. Each keeps its name and summary in the history (a
        marker the UI shows as a local activity), its timeout and its retries
        (docs/PERFORMANCE.md, "Local activities: what they change")."""
        return await workflow.execute_local_activity_method(
            activity,
            arg,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
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

    def _outcome_of(self, decision: Decision) -> RequestStatus | None:
        return decisions.outcome_of(
            decision, self._cmd.kind, self._cmd.policy, self._cmd.initiator, frozenset(self._given)
        )

    def _change_on(self, outcome: RequestStatus) -> str:
        if not outcome.is_agreement:
            return ""
        change = kinds.of(self._cmd.kind).change
        if change is kinds.Change.END:
            return " and end the association"
        if change is kinds.Change.MOVE:
            return ": end the association and begin the new one"
        return " and change the association's type"

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
