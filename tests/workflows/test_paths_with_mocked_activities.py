"""Every path of the disassociation workflow on the time-skipping test server, with its activities
mocked under their real names (no PostgreSQL): what the workflow decides, when, and which
activities it runs with which inputs.

The mocks keep one request in memory, as the store would: `accept_request` stores it pending with
`submitted_at` = the acceptance time and `respond_by` from the policy, `settle_request` settles it
once (a request no longer pending is returned as it is, like the store's compare-and-set).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.requests import ASSOCIATION_NOT_FOUND, RequestActivities
from contract import (
    CHECK_FAILED,
    AcceptInput,
    Admission,
    OperatorDecision,
    Outcome,
    ReminderInput,
    RequestSnapshot,
    SettleInput,
    SubmitCommand,
)
from domain.types import (
    SYSTEM,
    WORKFLOW_CANCELLATION,
    Actor,
    CheckItem,
    CheckResult,
    Decision,
    DecisionAction,
    Policy,
    RequestStatus,
    Side,
    TimeoutOutcome,
)
from tests.conftest import WORKER_VERSION
from worker import deployment_config
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.timeskipping

POLICY = Policy(
    response_window=timedelta(days=10),
    reminder_before=timedelta(hours=48),
    on_timeout_customer=TimeoutOutcome.AUTO_AGREE,
    on_timeout_partner=TimeoutOutcome.EXPIRE,
    request_limit=1,
    request_window_months=3,
)
PASSED = CheckResult(
    passed=True,
    items=[
        CheckItem(code="association_active", passed=True, message="The association is active."),
        CheckItem(code="partner_not_frozen", passed=True, message="The partner is not frozen."),
    ],
)
FAILED = CheckResult(
    passed=False,
    items=[
        CheckItem(code="association_active", passed=True, message="The association is active."),
        CheckItem(code="partner_not_frozen", passed=False, message="The partner is frozen."),
    ],
)
CANCELLED_REASON = "The workflow was cancelled in the Temporal UI or CLI."


# --- the mocked activities --------------------------------------------------------------------


_STEP_TIMES = {"accepted_at", "decided_at", "at", "as_of"}


def _timeless(inp: BaseModel) -> dict[str, Any]:
    """A step's input without the workflow task's time it carries."""
    return inp.model_dump(exclude=_STEP_TIMES)


class MockedActivities:
    """`RequestActivities` under the same activity names, on one in-memory request.

    Every call is recorded with its input. `accept_gate`/`settle_gate`, when given, hold the
    activity until the test sets them (to send a message while it runs). `existing` is a request
    the store holds already (a workflow reset to its start): accepting returns it as it stands.
    """

    def __init__(
        self,
        *,
        existing: RequestSnapshot | None = None,
        refuse_with: CheckResult | None = None,
        association_missing: bool = False,
        accept_gate: asyncio.Event | None = None,
        settle_gate: asyncio.Event | None = None,
    ) -> None:
        self.refuse_with = refuse_with
        self.association_missing = association_missing
        self.accept_gate = accept_gate
        self.settle_gate = settle_gate
        self.calls: list[tuple[str, BaseModel]] = []
        self.request = existing
        self.settling = asyncio.Event()  # set once settle_request has been called

    def runs(self) -> list[tuple[str, BaseModel]]:
        """The steps as the workflow asked for them: a local activity runs again, with the same
        input but the new workflow task's time, when the task that would have recorded its result
        is lost (a message arrived while the task ran and the workflow was completing; a worker
        died). The store makes that idempotent; here such a repeat counts as the same step."""
        runs: list[tuple[str, BaseModel]] = []
        for called, inp in self.calls:
            if runs and runs[-1][0] == called and _timeless(runs[-1][1]) == _timeless(inp):
                continue
            runs.append((called, inp))
        return runs

    def inputs(self, name: str) -> list[Any]:
        return [inp for called, inp in self.runs() if called == name]

    def names(self) -> list[str]:
        return [called for called, _ in self.runs()]

    @activity.defn(name="accept_request")
    async def accept_request(self, inp: AcceptInput) -> Admission:
        self.calls.append(("accept_request", inp))
        if self.accept_gate is not None:
            await self.accept_gate.wait()
        if self.association_missing:
            raise ApplicationError(
                f"association {inp.command.association_id} does not exist",
                type=ASSOCIATION_NOT_FOUND,
                non_retryable=True,
            )
        if self.request is not None:
            return Admission(accepted=True, check=PASSED, request=self.request)
        if self.refuse_with is not None:
            return Admission(accepted=False, check=self.refuse_with)
        cmd = inp.command
        self.request = RequestSnapshot(
            id=cmd.request_id,
            association_id=cmd.association_id,
            partner_id=cmd.partner_id,
            customer_id=cmd.customer_id,
            initiator=cmd.initiator,
            status=RequestStatus.PENDING,
            reason=cmd.reason,
            submitted_at=inp.accepted_at,
            respond_by=cmd.policy.respond_by(inp.accepted_at),
        )
        return Admission(accepted=True, check=PASSED, request=self.request)

    @activity.defn(name="settle_request")
    async def settle_request(self, inp: SettleInput) -> RequestSnapshot:
        self.calls.append(("settle_request", inp))
        self.settling.set()
        if self.settle_gate is not None:
            await self.settle_gate.wait()
        assert self.request is not None and self.request.id == inp.request_id
        if self.request.status is RequestStatus.PENDING:
            self.request = self.request.model_copy(
                update={
                    "status": inp.outcome,
                    "decided_at": inp.decided_at,
                    "decided_by": inp.actor.ref,
                    "decision_reason": inp.reason,
                    "decision_id": inp.decision_id,
                }
            )
        return self.request

    @activity.defn(name="send_reminder")
    async def send_reminder(self, inp: ReminderInput) -> bool:
        self.calls.append(("send_reminder", inp))
        assert self.request is not None and self.request.id == inp.request_id
        return True

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [
            self.accept_request,
            self.settle_request,
            self.send_reminder,
        ]


def test_the_mocks_carry_the_real_activity_names():
    def names(*fns: Any) -> list[str]:
        return [fn.__temporal_activity_definition.name for fn in fns]

    real = RequestActivities
    assert names(*MockedActivities().all()) == names(
        real.accept_request, real.settle_request, real.send_reminder
    )


# --- requests, parties, running ---------------------------------------------------------------


def submit_command(initiator: Side, policy: Policy = POLICY) -> SubmitCommand:
    """A submit as the API builds it, by the customer or a partner user (made-up ids)."""
    customer_id = uuid.uuid4()
    return SubmitCommand(
        request_id=uuid.uuid4(),
        association_id=uuid.uuid4(),
        partner_id=uuid.uuid4(),
        customer_id=customer_id,
        partner_name="Contoso Cloud Services",
        customer_name="Fabrikam",
        association_type="resale",
        initiator=initiator,
        requested_by=party(customer_id, initiator),
        reason="moving on",
        policy=policy,
    )


def party(customer_id: uuid.UUID, side: Side) -> Actor:
    if side is Side.CUSTOMER:
        return Actor(kind="customer", id=str(customer_id), side=Side.CUSTOMER)
    return Actor(kind="partner_user", id=str(uuid.uuid4()), side=Side.PARTNER)


def initiator_of(cmd: SubmitCommand) -> Actor:
    return cmd.requested_by


def counterpart_of(cmd: SubmitCommand) -> Actor:
    return party(cmd.customer_id, cmd.initiator.other)


# Steps are local activities: a message sent while a test holds one open (a gate) is handled when
# the worker renews the workflow task, at 80% of this (10 s by default).
TASK_TIMEOUT = timedelta(seconds=2)

Start = Callable[[SubmitCommand, MockedActivities], Awaitable[WorkflowHandle[Any, Outcome]]]


@pytest.fixture
async def start(ts_env: WorkflowEnvironment) -> AsyncIterator[Start]:
    """Start a request's workflow on its own task queue, with its own worker on the mocks.

    The worker keeps Temporal's default sandbox (worker.py runs without it, for speed): here it
    costs little and refuses any non-deterministic call on every path these tests take.

    A workflow a test leaves running is terminated at the end: an open workflow whose worker is
    gone would hold the shared test server's clock for the tests after it.
    """
    handles: list[WorkflowHandle[Any, Outcome]] = []
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            cmd: SubmitCommand, mocks: MockedActivities
        ) -> WorkflowHandle[Any, Outcome]:
            task_queue = f"mocked-{uuid.uuid4().hex[:8]}"
            await stack.enter_async_context(
                Worker(
                    ts_env.client,
                    task_queue=task_queue,
                    workflows=[RequestWorkflow],
                    activities=mocks.all(),
                    deployment_config=deployment_config(WORKER_VERSION),
                )
            )
            handle = await starter.start(ts_env.client, cmd, task_queue, task_timeout=TASK_TIMEOUT)
            handles.append(handle)
            return handle

        try:
            yield start
        finally:
            for handle in handles:
                if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("left running by the test")


async def admitted(handle: WorkflowHandle[Any, Outcome]) -> Admission:
    return await handle.execute_update(RequestWorkflow.admission)


async def accepted(handle: WorkflowHandle[Any, Outcome]) -> RequestSnapshot:
    """The pending request, once accepted."""
    admission = await admitted(handle)
    assert admission.accepted and admission.request is not None
    assert admission.request.status is RequestStatus.PENDING
    return admission.request


async def settled(handle: WorkflowHandle[Any, Outcome]) -> RequestSnapshot:
    """Poll until the request is settled, without `result()` (which lets time skip freely)."""
    for _ in range(200):
        state = await handle.query(RequestWorkflow.state)
        if state.request is not None and state.request.status is not RequestStatus.PENDING:
            return state.request
        await asyncio.sleep(0.05)
    raise AssertionError("the request was not settled")


async def current_details(handle: WorkflowHandle[Any, Outcome], containing: str) -> str:
    """The workflow's *Current details* (what the Temporal UI shows), once they say `containing`."""
    details = ""
    for _ in range(200):
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = metadata.current_details
        if containing in details:
            return details
        await asyncio.sleep(0.05)
    raise AssertionError(f"the current details never said {containing!r}: {details!r}")


async def refusal(update: Awaitable[Any]) -> ApplicationError:
    """The ApplicationError a refused Update carries."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


def just_after(moment: datetime | None, expected: datetime) -> bool:
    """Timers fire at their time or a little later, never before."""
    return moment is not None and expected <= moment < expected + timedelta(seconds=2)


def assert_accepted_as_submitted(mocks: MockedActivities, cmd: SubmitCommand) -> AcceptInput:
    """One acceptance, of this command (the account check runs in it, under the lock)."""
    [accept] = mocks.inputs("accept_request")
    assert accept.command == cmd
    return accept


# --- decisions by the parties -----------------------------------------------------------------


@pytest.mark.parametrize("initiator", [Side.CUSTOMER, Side.PARTNER])
@pytest.mark.parametrize(
    ("action", "by_initiator", "reason", "outcome"),
    [
        (DecisionAction.AGREE, False, None, RequestStatus.AGREED),
        (DecisionAction.REJECT, False, "Open orders first", RequestStatus.REJECTED),
        (DecisionAction.WITHDRAW, True, "Changed our mind", RequestStatus.WITHDRAWN),
    ],
    ids=["agree", "reject", "withdraw"],
)
async def test_a_party_decides_with_the_decide_update(
    start, initiator, action, by_initiator, reason, outcome
):
    cmd = submit_command(initiator)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    admission = await admitted(handle)
    assert admission.accepted and admission.check == PASSED
    pending = admission.request
    assert (
        pending is not None
        and pending.status is RequestStatus.PENDING
        and pending.initiator is initiator
    )
    assert pending.respond_by - pending.submitted_at == timedelta(days=10)
    accept = assert_accepted_as_submitted(mocks, cmd)
    assert pending.submitted_at == accept.accepted_at

    actor = initiator_of(cmd) if by_initiator else counterpart_of(cmd)
    answer = await handle.execute_update(
        RequestWorkflow.decide, Decision(action=action, actor=actor, reason=reason)
    )
    result = await handle.result()

    [settle] = mocks.inputs("settle_request")
    assert (settle.request_id, settle.outcome, settle.actor, settle.reason) == (
        cmd.request_id,
        outcome,
        actor,
        reason,
    )
    assert pending.submitted_at <= settle.decided_at < pending.submitted_at + timedelta(minutes=1)
    assert answer.status is outcome
    assert answer.decided_by == actor.ref
    assert answer.decided_at == settle.decided_at
    assert answer.decision_reason == reason
    assert (answer.submitted_at, answer.respond_by) == (pending.submitted_at, pending.respond_by)
    assert result.accepted and result.outcome is outcome and result.request == answer
    assert mocks.names() == ["accept_request", "settle_request"]  # no reminder


async def test_an_operator_cancels_with_the_decide_update(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    await admitted(handle)
    operator = Actor(kind="operator", id="alice@ops")
    answer = await handle.execute_update(
        RequestWorkflow.decide,
        Decision(action=DecisionAction.CANCEL, actor=operator, reason="Duplicate request"),
    )
    result = await handle.result()
    [settle] = mocks.inputs("settle_request")
    assert (settle.outcome, settle.actor, settle.reason) == (
        RequestStatus.CANCELLED,
        operator,
        "Duplicate request",
    )
    assert answer.decided_by == "operator:alice@ops"
    assert result.outcome is RequestStatus.CANCELLED and result.request == answer


# --- refused at acceptance --------------------------------------------------------------------


async def test_a_request_that_fails_its_check_is_refused_and_never_settled(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities(refuse_with=FAILED)
    handle = await start(cmd, mocks)
    admission = await admitted(handle)
    result = await handle.result()
    assert not admission.accepted and admission.check == FAILED and admission.request is None
    assert not result.accepted and result.outcome == CHECK_FAILED
    assert result.check == FAILED and result.request is None
    assert_accepted_as_submitted(mocks, cmd)
    assert mocks.names() == ["accept_request"]  # no settle, no reminder
    state = await handle.query(RequestWorkflow.state)
    assert state.request is None and state.settling_as is None


async def test_a_missing_association_is_refused_as_a_failed_check(start):
    cmd = submit_command(Side.PARTNER)
    mocks = MockedActivities(association_missing=True)
    handle = await start(cmd, mocks)
    result = await handle.result()
    assert not result.accepted and result.outcome == CHECK_FAILED
    assert result.check.failed("association_active")
    assert mocks.names() == ["accept_request"]  # non-retryable: tried once, never settled


# --- the deadline -------------------------------------------------------------------------------


async def test_a_customer_request_is_reminded_48h_before_and_auto_agreed_at_respond_by(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    pending = await accepted(handle)
    result = await handle.result()  # lets time skip: ten days in moments

    [reminder] = mocks.inputs("send_reminder")
    assert reminder.request_id == cmd.request_id
    assert just_after(reminder.at, pending.respond_by - timedelta(hours=48))
    [settle] = mocks.inputs("settle_request")
    assert (settle.outcome, settle.actor, settle.reason) == (
        RequestStatus.AUTO_AGREED,
        SYSTEM,
        None,
    )
    assert just_after(settle.decided_at, pending.respond_by)
    assert mocks.names() == ["accept_request", "send_reminder", "settle_request"]
    assert result.outcome is RequestStatus.AUTO_AGREED
    assert result.request.decided_by == "system:assocflow"
    assert result.request.decided_at == settle.decided_at


@pytest.mark.parametrize(
    ("window", "reminded"),
    [(timedelta(days=10), True), (timedelta(hours=20), False)],
    ids=["reminded", "window-shorter-than-lead-time"],
)
async def test_a_partner_request_expires_at_respond_by(start, window, reminded):
    cmd = submit_command(Side.PARTNER, POLICY.model_copy(update={"response_window": window}))
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    pending = await accepted(handle)
    assert pending.respond_by - pending.submitted_at == window
    result = await handle.result()

    reminders = mocks.inputs("send_reminder")
    if reminded:
        [reminder] = reminders
        assert just_after(reminder.at, pending.respond_by - timedelta(hours=48))
    else:
        assert reminders == []
    [settle] = mocks.inputs("settle_request")
    assert (settle.outcome, settle.actor, settle.reason) == (RequestStatus.EXPIRED, SYSTEM, None)
    assert just_after(settle.decided_at, pending.respond_by)
    assert result.outcome is RequestStatus.EXPIRED
    assert result.request.decided_by == "system:assocflow"


# --- operators in the Temporal UI ---------------------------------------------------------------


async def test_an_operator_reject_signal_settles_and_one_without_a_reason_is_ignored(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    pending = await accepted(handle)

    await handle.signal(RequestWorkflow.reject, OperatorDecision(operator="alice"))
    details = await current_details(handle, "Ignored")
    assert "Ignored the `reject` signal from `alice`: A rejection needs a reason." in details
    assert (await handle.query(RequestWorkflow.state)).settling_as is None

    await handle.signal(
        RequestWorkflow.reject,
        OperatorDecision(operator="alice", reason="Partner confirmed by phone"),
    )
    final = await settled(handle)
    result = await handle.result()

    [settle] = mocks.inputs("settle_request")  # the ignored signal settled nothing
    assert settle.outcome is RequestStatus.REJECTED
    assert settle.actor == Actor(kind="temporal_ui", id="alice", verified=False)
    assert settle.reason == "Partner confirmed by phone"
    assert final.status is RequestStatus.REJECTED
    assert final.decided_by == "temporal_ui:alice (unverified)"
    assert final.decision_reason == "Partner confirmed by phone"
    assert final.decided_at < pending.respond_by - timedelta(days=9)  # at once, not at the deadline
    assert mocks.inputs("send_reminder") == []
    assert result.outcome is RequestStatus.REJECTED and result.request == final


async def test_a_bare_operator_agree_signal_settles_as_anonymous(start):
    cmd = submit_command(Side.PARTNER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    await admitted(handle)
    await handle.signal(RequestWorkflow.agree)  # no input at all, as from a bare UI click
    final = await settled(handle)
    result = await handle.result()
    [settle] = mocks.inputs("settle_request")
    assert (settle.outcome, settle.actor, settle.reason) == (
        RequestStatus.AGREED,
        Actor(kind="temporal_ui", id="anonymous", verified=False),
        None,
    )
    assert final.decided_by == "temporal_ui:anonymous (unverified)"
    assert result.outcome is RequestStatus.AGREED


# --- cancelling the workflow --------------------------------------------------------------------


async def test_cancelling_the_workflow_settles_a_pending_request_as_cancelled(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    pending = await accepted(handle)
    await handle.cancel()
    final = await settled(handle)
    result = await handle.result()

    [settle] = mocks.inputs("settle_request")
    assert (settle.outcome, settle.actor, settle.reason) == (
        RequestStatus.CANCELLED,
        WORKFLOW_CANCELLATION,
        CANCELLED_REASON,
    )
    assert final.decided_by == "temporal_ui:workflow-cancellation (unverified)"
    assert final.decided_at < pending.respond_by - timedelta(days=9)
    assert result.outcome is RequestStatus.CANCELLED and result.request == final
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert mocks.inputs("send_reminder") == []


# --- decisions the workflow refuses -------------------------------------------------------------


async def test_the_validator_refuses_a_decision_by_the_wrong_party(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    await admitted(handle)
    customer, partner = initiator_of(cmd), counterpart_of(cmd)

    def decide(action: DecisionAction, actor: Actor, reason: str | None = None) -> Awaitable[Any]:
        decision = Decision(action=action, actor=actor, reason=reason)
        return handle.execute_update(RequestWorkflow.decide, decision)

    for action, actor in [
        (DecisionAction.AGREE, customer),  # the initiator cannot agree to its own request
        (DecisionAction.REJECT, customer),
        (DecisionAction.WITHDRAW, partner),  # only the initiator withdraws
        (DecisionAction.CANCEL, partner),  # only operators cancel
        (DecisionAction.TIMEOUT, partner),  # only assocflow applies the deadline
    ]:
        refused = await refusal(decide(action, actor, "because"))
        assert refused.type == "forbidden", (action, actor.kind)
    assert (await refusal(decide(DecisionAction.REJECT, partner))).type == "validation_error"

    state = await handle.query(RequestWorkflow.state)
    assert state.request.status is RequestStatus.PENDING and state.settling_as is None
    assert mocks.inputs("settle_request") == []  # nothing refused reached the store

    answer = await decide(DecisionAction.AGREE, partner)
    assert answer.status is RequestStatus.AGREED
    assert (await handle.result()).outcome is RequestStatus.AGREED


async def test_a_second_decision_is_refused_as_not_pending_with_the_first_ones_outcome(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities(settle_gate=asyncio.Event())
    handle = await start(cmd, mocks)
    await admitted(handle)
    partner = counterpart_of(cmd)
    agree = await handle.start_update(
        RequestWorkflow.decide,
        Decision(action=DecisionAction.AGREE, actor=partner),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await asyncio.wait_for(mocks.settling.wait(), 10)  # the agreement is being settled
    assert (await handle.query(RequestWorkflow.state)).settling_as is RequestStatus.AGREED

    withdraw = Decision(action=DecisionAction.WITHDRAW, actor=initiator_of(cmd), reason="oops")
    refused = await refusal(handle.execute_update(RequestWorkflow.decide, withdraw))
    assert refused.type == "not_pending"
    assert list(refused.details) == ["agreed"]
    assert "already agreed" in refused.message
    # Still the wrong party first: who decides is judged before whether it still can.
    cancel = Decision(action=DecisionAction.CANCEL, actor=initiator_of(cmd))
    assert (await refusal(handle.execute_update(RequestWorkflow.decide, cancel))).type == (
        "forbidden"
    )

    assert mocks.settle_gate is not None
    mocks.settle_gate.set()
    answer = await agree.result()
    result = await handle.result()
    assert answer.status is RequestStatus.AGREED and answer.decided_by == partner.ref
    assert result.outcome is RequestStatus.AGREED
    [settle] = mocks.inputs("settle_request")
    assert settle.outcome is RequestStatus.AGREED


@pytest.mark.parametrize(
    ("sent_as", "answered"),
    [("the-lost-agree", "agreed"), ("a-withdraw", "not_pending")],
    ids=["the-same-decision-again", "another-decision"],
)
async def test_a_decision_that_finds_another_ones_outcome_in_the_store_is_refused(
    start, sent_as, answered
):
    """An agree settled the request in a workflow task Temporal then refused (a message arrived
    as it completed), so the history does not hold it and the workflow still sees the request
    pending. The next decision it admits finds the agree's outcome in the store: the agree, sent
    again under its own id, is answered with it; any other decision is refused as not pending."""
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities()
    handle = await start(cmd, mocks)
    await admitted(handle)
    assert mocks.request is not None
    agree = Decision(action=DecisionAction.AGREE, actor=counterpart_of(cmd))
    mocks.request = mocks.request.model_copy(
        update={
            "status": RequestStatus.AGREED,
            "decided_by": agree.actor.ref,
            "decision_id": "the-lost-agree",
        }
    )
    decision = (
        agree
        if sent_as == "the-lost-agree"
        else Decision(action=DecisionAction.WITHDRAW, actor=initiator_of(cmd))
    )
    sending = handle.execute_update(RequestWorkflow.decide, decision, id=sent_as)
    if answered == "agreed":
        assert (await sending).status is RequestStatus.AGREED
    else:
        refused = await refusal(sending)
        assert (refused.type, list(refused.details)) == ("not_pending", ["agreed"])
    assert (await handle.result()).outcome is RequestStatus.AGREED
    [settle] = mocks.inputs("settle_request")
    assert settle.decision_id == sent_as


async def test_decisions_sent_during_acceptance_wait_for_it_and_the_first_one_wins(start):
    cmd = submit_command(Side.PARTNER)
    mocks = MockedActivities(accept_gate=asyncio.Event())
    handle = await start(cmd, mocks)
    customer, partner = counterpart_of(cmd), initiator_of(cmd)

    # Who decides is judged at once, before the request is accepted...
    wrong = Decision(action=DecisionAction.AGREE, actor=partner)
    assert (await refusal(handle.execute_update(RequestWorkflow.decide, wrong))).type == (
        "forbidden"
    )
    # ...and a decision by the right party waits for the acceptance.
    reject = await handle.start_update(
        RequestWorkflow.decide,
        Decision(action=DecisionAction.REJECT, actor=customer, reason="We still need you"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    withdraw = await handle.start_update(
        RequestWorkflow.decide,
        Decision(action=DecisionAction.WITHDRAW, actor=partner),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert mocks.names() == ["accept_request"]
    assert mocks.accept_gate is not None
    mocks.accept_gate.set()

    answer = await reject.result()
    assert answer.status is RequestStatus.REJECTED and answer.decided_by == customer.ref
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await withdraw.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "not_pending"
    assert list(failed.value.cause.details) == ["rejected"]
    result = await handle.result()
    assert result.outcome is RequestStatus.REJECTED
    [settle] = mocks.inputs("settle_request")
    assert (settle.outcome, settle.actor, settle.reason) == (
        RequestStatus.REJECTED,
        customer,
        "We still need you",
    )


async def test_a_decision_sent_during_acceptance_of_a_refused_request_is_not_pending(start):
    cmd = submit_command(Side.CUSTOMER)
    mocks = MockedActivities(refuse_with=FAILED, accept_gate=asyncio.Event())
    handle = await start(cmd, mocks)
    agree = await handle.start_update(
        RequestWorkflow.decide,
        Decision(action=DecisionAction.AGREE, actor=counterpart_of(cmd)),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert mocks.accept_gate is not None
    mocks.accept_gate.set()
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await agree.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "not_pending"
    assert "not accepted" in failed.value.cause.message
    assert (await handle.result()).outcome == CHECK_FAILED
    assert mocks.names() == ["accept_request"]


async def test_a_request_found_settled_at_acceptance_takes_no_decision_and_ends_as_it_is(start):
    """A workflow reset to its start: its request was agreed before, and stays agreed."""
    cmd = submit_command(Side.CUSTOMER)
    partner = counterpart_of(cmd)
    submitted_at = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    agreed = RequestSnapshot(
        id=cmd.request_id,
        association_id=cmd.association_id,
        partner_id=cmd.partner_id,
        customer_id=cmd.customer_id,
        initiator=cmd.initiator,
        status=RequestStatus.AGREED,
        reason=cmd.reason,
        submitted_at=submitted_at,
        respond_by=cmd.policy.respond_by(submitted_at),
        decided_at=submitted_at + timedelta(days=1),
        decided_by=partner.ref,
    )
    mocks = MockedActivities(existing=agreed, accept_gate=asyncio.Event())
    handle = await start(cmd, mocks)
    # Judged as pending while the request is being accepted, then again once it is: settled.
    withdraw = await handle.start_update(
        RequestWorkflow.decide,
        Decision(action=DecisionAction.WITHDRAW, actor=initiator_of(cmd), reason="oops"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert mocks.accept_gate is not None
    mocks.accept_gate.set()
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await withdraw.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "not_pending"
    assert list(failed.value.cause.details) == ["agreed"]
    result = await handle.result()
    assert result.accepted and result.outcome is RequestStatus.AGREED and result.request == agreed
    assert mocks.names() == ["accept_request"]  # neither settled again nor reminded
