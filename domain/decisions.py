"""Who may settle a pending request, until when, and what a missed deadline means.

One rule for every place a decision is judged: the application's check before it messages the
workflow, and the workflow's own Update validator and signal handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain import kinds, messages
from domain.problems import ProblemCode
from domain.types import (
    Decision,
    DecisionAction,
    Permission,
    Policy,
    RequestKind,
    RequestStatus,
    Side,
)

OUTCOME_OF_ACTION = {
    DecisionAction.AGREE: RequestStatus.AGREED,
    DecisionAction.REJECT: RequestStatus.REJECTED,
    DecisionAction.WITHDRAW: RequestStatus.WITHDRAWN,
    DecisionAction.CANCEL: RequestStatus.CANCELLED,
}


# The actions a party may take: the counterpart answers (the kind's `process` permission), the
# initiator withdraws (its `submit` permission); operators need none, and only they cancel.
PARTY_ACTIONS = (DecisionAction.AGREE, DecisionAction.REJECT, DecisionAction.WITHDRAW)


def permission_for(kind: RequestKind, action: DecisionAction) -> Permission | None:
    """The permission a partner's person needs to take `action` on a request of `kind`; None for
    an action no party takes."""
    if action not in PARTY_ACTIONS:
        return None
    rules = kinds.of(kind)
    return rules.submit if action is DecisionAction.WITHDRAW else rules.process


def needs_verification(action: DecisionAction) -> bool:
    """Whether the acting person's verification code guards `action`, where their account
    requires one: the counterpart's agreement or rejection does; withdrawing one's own request
    does not."""
    return action in (DecisionAction.AGREE, DecisionAction.REJECT)


class Refusal(StrEnum):
    """Why a decision is refused: the API's problem code, and the error type a refusal carries
    across the Temporal boundary."""

    NOT_PENDING = ProblemCode.NOT_PENDING.value
    FORBIDDEN = ProblemCode.FORBIDDEN.value
    VALIDATION_ERROR = ProblemCode.VALIDATION_ERROR.value


class DecisionRefused(Exception):
    """A decision that must not be applied. `status` is the request's status as the decision found
    it (for `not_pending`)."""

    def __init__(self, code: Refusal, message: str, status: RequestStatus | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class DecisionContext:
    """What judging a decision needs to know of its request."""

    initiator: Side
    # The request's status, or the outcome a decision already claimed.
    status: RequestStatus
    # None while the request is still being checked (it has no deadline yet).
    respond_by: datetime | None
    # The outcome the deadline brings, as stored with the request; None where only whether a
    # decision may be taken is asked (what to offer a person), not the words for why not.
    on_timeout: RequestStatus | None = None


def timeout_outcome(kind: RequestKind, policy: Policy, initiator: Side) -> RequestStatus:
    return kinds.of(kind).timeout_outcome(policy, initiator)


def outcome_of(
    decision: Decision, kind: RequestKind, policy: Policy, initiator: Side
) -> RequestStatus:
    if decision.action is DecisionAction.TIMEOUT:
        return timeout_outcome(kind, policy, initiator)
    return OUTCOME_OF_ACTION[decision.action]


def authorize(decision: Decision, request: DecisionContext, now: datetime) -> None:
    """Raise DecisionRefused unless `decision` may settle `request` at `now`.

    The counterpart agrees or rejects, the initiator withdraws; operators may agree, reject or
    cancel on the platform's behalf; only assocflow applies the deadline. Then: a request no
    longer pending takes no decision, and a decision at or after `respond_by` loses to the
    deadline's outcome. A reject needs a reason.
    """
    _may_decide(decision, request.initiator)
    if request.status is not RequestStatus.PENDING:
        raise DecisionRefused(Refusal.NOT_PENDING, messages.already(request.status), request.status)
    if (
        decision.action is not DecisionAction.TIMEOUT
        and request.respond_by is not None
        and now >= request.respond_by
    ):
        raise DecisionRefused(
            Refusal.NOT_PENDING,
            messages.past_deadline(request.respond_by, request.on_timeout),
            request.on_timeout,
        )
    if decision.action is DecisionAction.REJECT and not (decision.reason or "").strip():
        raise DecisionRefused(Refusal.VALIDATION_ERROR, messages.reject_needs_a_reason())


def _may_decide(decision: Decision, initiator: Side) -> None:
    """Whether this actor may take this action on a request `initiator` started, whatever its
    state: who may decide comes before whether it still can (403 before 409)."""
    action, actor = decision.action, decision.actor
    if action is DecisionAction.TIMEOUT:
        if actor.kind != "system":
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_the_system_times_out())
    elif action is DecisionAction.CANCEL:
        if not actor.acts_for_platform:
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_operators_cancel())
    elif action is DecisionAction.WITHDRAW:
        if actor.side is not initiator:
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_the_initiator_withdraws())
    elif not actor.acts_for_platform and actor.side is not initiator.other:
        raise DecisionRefused(
            Refusal.FORBIDDEN, messages.only_the_counterpart(initiator.other, action)
        )
