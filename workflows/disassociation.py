"""One workflow per disassociation request: check, accept, wait for the counterpart, settle."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.disassociation import (
        ASSOCIATION_NOT_FOUND,
        REQUEST_NOT_FOUND,
        AcceptInput,
        CheckInput,
        DisassociationActivities,
        ReminderInput,
        SettleInput,
    )
    from assocflow import metrics
    from domain import decisions
    from domain.types import (
        SYSTEM,
        Actor,
        Admission,
        CheckItem,
        CheckResult,
        Decision,
        DecisionAction,
        DisassociationRequest,
        OperatorDecision,
        RequestStatus,
        SubmitCommand,
    )
    from workflows import shared
    from workflows.shared import RequestState

# Each activity is one short transaction; a worker that dies mid-activity is noticed this soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Database outages are waited out, never turned into a lost request: retries do not give up.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[ASSOCIATION_NOT_FOUND, REQUEST_NOT_FOUND],
)


@workflow.defn(name="Disassociation")
class DisassociationWorkflow:
    @workflow.init
    def __init__(self, cmd: SubmitCommand) -> None:
        self._cmd = cmd
        self._admission: Admission | None = None
        self._request: DisassociationRequest | None = None
        self._claimed: Decision | None = None
        self._reminded = False

    @workflow.run
    async def run(self, cmd: SubmitCommand) -> Admission:
        workflow.set_current_details(
            f"**Checking** the accounts of {cmd.customer_name} and {cmd.partner_name}."
        )
        self._admission = await self._admit()
        if not self._admission.accepted:
            self._show_refused(self._admission.check)
            failed = [i.code for i in self._admission.check.items if not i.passed]
            self._log("request refused", failed_items=failed)
            return self._admission
        self._request = self._admission.request
        assert self._request is not None
        self._meter_add(metrics.REQUESTS_ACCEPTED)
        self._log("request accepted", respond_by=self._request.respond_by.isoformat())
        workflow.upsert_search_attributes(
            [
                shared.REQUEST_STATUS.value_set(RequestStatus.PENDING.value),
                shared.RESPOND_BY.value_set(self._request.respond_by),
            ]
        )
        await self._await_outcome()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._admission.model_copy(update={"request": self._request})

    # --- messages ---------------------------------------------------------------------------

    @workflow.update
    async def admission(self) -> Admission:
        """Waits until the request is accepted or refused; the API submits with update-with-start."""
        await workflow.wait_condition(lambda: self._admission is not None)
        assert self._admission is not None
        return self._admission

    @workflow.update
    async def decide(self, decision: Decision) -> DisassociationRequest:
        """Agree, reject or withdraw; answers with the settled request."""
        self._claim(decision)
        return await self._settle(decision)

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        self._authorize(decision)

    @workflow.signal
    async def agree(self, payload: OperatorDecision | None = None) -> None:
        """Operators: agree on the counterpart's behalf."""
        await self._operator_decides(DecisionAction.AGREE, payload or OperatorDecision())

    @workflow.signal
    async def reject(self, payload: OperatorDecision | None = None) -> None:
        """Operators: reject on the counterpart's behalf (a reason is required)."""
        await self._operator_decides(DecisionAction.REJECT, payload or OperatorDecision())

    @workflow.query
    def state(self) -> RequestState:
        return RequestState(
            admission=self._admission,
            request=self._request,
            settling_as=self._outcome(self._claimed) if self._claimed else None,
        )

    # --- steps ------------------------------------------------------------------------------

    async def _admit(self) -> Admission:
        cmd = self._cmd
        try:
            check = await workflow.execute_activity_method(
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
            if not check.passed:
                return Admission(accepted=False, check=check)
            return await workflow.execute_activity_method(
                DisassociationActivities.accept_request,
                AcceptInput(command=cmd, accepted_at=workflow.now()),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary="Accept: check again under lock, store request, record and notification",
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == ASSOCIATION_NOT_FOUND:
                missing = CheckItem(
                    code="association_active",
                    passed=False,
                    message="The association does not exist.",
                )
                return Admission(accepted=False, check=CheckResult(passed=False, items=[missing]))
            raise

    async def _await_outcome(self) -> None:
        request = self._request
        assert request is not None
        reminder_at = request.respond_by - self._cmd.policy.reminder_before
        # A reminder due at or before acceptance (a response window shorter than the reminder
        # lead time) would only repeat the request notification, so there is none.
        has_reminder = self._cmd.policy.reminder_before > timedelta(0) and (
            reminder_at > request.submitted_at
        )
        self._show_pending(reminder_at if has_reminder else None)
        if has_reminder and not await self._claimed_before(reminder_at, "reminder"):
            await workflow.execute_activity_method(
                DisassociationActivities.send_reminder,
                ReminderInput(request_id=request.id, at=workflow.now()),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary="Remind the counterpart",
            )
            self._reminded = True
            self._meter_add(metrics.REMINDERS_SENT)
            self._log("reminder sent")
            self._show_pending(reminder_at)
        if not await self._claimed_before(request.respond_by, "respond_by"):
            timeout = Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM)
            self._claim(timeout)
            await self._settle(timeout)
        await workflow.wait_condition(
            lambda: self._request is not None and self._request.status is not RequestStatus.PENDING
        )

    async def _claimed_before(self, deadline: datetime, timer_summary: str) -> bool:
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

    def _outcome(self, decision: Decision) -> RequestStatus:
        return decisions.outcome_of(decision, self._cmd.policy, self._cmd.initiator)

    def _authorize(self, decision: Decision) -> None:
        """Raise the ApplicationError the caller sees unless `decision` may settle the request now."""
        if self._request is None:
            raise ApplicationError(
                "The request is still being checked.", "checking", type="not_pending"
            )
        status = self._outcome(self._claimed) if self._claimed else self._request.status
        try:
            decisions.authorize(decision, self._cmd.initiator, status)
        except decisions.DecisionRefused as refused:
            raise ApplicationError(str(refused), status.value, type=refused.code) from None

    def _claim(self, decision: Decision) -> None:
        """Make `decision` the one that settles the request; later ones are refused as not pending.

        Runs synchronously before any await, so two decisions in one workflow task cannot both
        pass.
        """
        self._authorize(decision)
        self._claimed = decision

    async def _settle(self, decision: Decision) -> DisassociationRequest:
        assert self._request is not None
        outcome = self._outcome(decision)
        workflow.set_current_details(f"**Settling** as {outcome.value} (`{decision.actor.ref}`).")
        self._request = await workflow.execute_activity_method(
            DisassociationActivities.settle_request,
            SettleInput(
                request_id=self._request.id,
                outcome=outcome,
                actor=decision.actor,
                reason=decision.reason,
                decided_at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Settle as {outcome.value}"
            + (" and end the association" if outcome.ends_association else ""),
        )
        settled = self._request
        self._meter_add(metrics.REQUESTS_SETTLED, outcome=settled.status.value)
        self._log("request settled", outcome=settled.status.value, decided_by=settled.decided_by)
        if settled.decided_at is not None:
            latency = (settled.decided_at - settled.submitted_at).total_seconds()
            workflow.metric_meter().create_histogram_float(
                metrics.DECISION_LATENCY, "From submission to outcome.", "s"
            ).record(
                latency, {"initiator": self._cmd.initiator.value, "outcome": settled.status.value}
            )
        workflow.upsert_search_attributes([shared.REQUEST_STATUS.value_set(settled.status.value)])
        workflow.set_current_details(
            shared.settled_details(
                settled.status,
                settled.decided_by or "",
                settled.decided_at or workflow.now(),
                settled.decision_reason,
            )
        )
        return settled

    async def _operator_decides(self, action: DecisionAction, payload: OperatorDecision) -> None:
        await workflow.wait_condition(lambda: self._admission is not None)
        decision = Decision(
            action=action,
            actor=Actor(kind="operator", id=payload.operator),
            reason=payload.reason or None,
        )
        try:
            self._claim(decision)
        except ApplicationError as refused:
            workflow.logger.warning("Ignored the operator's %s signal: %s", action.value, refused)
            workflow.set_current_details(
                f"{workflow.get_current_details()}\n\n> Ignored the `{action.value}` signal from"
                f" `{payload.operator}`: {refused.message}"
            )
            return
        await self._settle(decision)

    def _log(self, event: str, **fields: object) -> None:
        """A log line with the request's ids (Temporal adds the workflow's; none on replay)."""
        cmd = self._cmd
        ids = {
            "request_id": str(cmd.request_id),
            "association_id": str(cmd.association_id),
            "partner_id": str(cmd.partner_id),
            "customer_id": str(cmd.customer_id),
            "initiator": cmd.initiator.value,
        }
        workflow.logger.info(event, extra={**ids, **fields})

    def _meter_add(self, name: str, **attributes: str) -> None:
        """Count a business event; Temporal records workflow metrics once, never on replay."""
        workflow.metric_meter().create_counter(name).add(
            1, {"initiator": self._cmd.initiator.value, **attributes}
        )

    # --- what operators see -----------------------------------------------------------------

    def _show_pending(self, reminder_at: datetime | None) -> None:
        assert self._request is not None
        workflow.set_current_details(
            shared.pending_details(self._cmd, self._request.respond_by, reminder_at, self._reminded)
        )

    def _show_refused(self, check: CheckResult) -> None:
        workflow.upsert_search_attributes([shared.REQUEST_STATUS.value_set(shared.CHECK_FAILED)])
        failed = "\n".join(f"- `{i.code}`: {i.message}" for i in check.items if not i.passed)
        workflow.set_current_details(f"**Not accepted**: the account check failed.\n\n{failed}")
