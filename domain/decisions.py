"""Who may settle a pending request, and what a missed deadline means."""

from __future__ import annotations

from domain.types import (
    Actor,
    Decision,
    DecisionAction,
    Policy,
    RequestStatus,
    Side,
    TimeoutOutcome,
)

OUTCOME_OF_ACTION = {
    DecisionAction.AGREE: RequestStatus.AGREED,
    DecisionAction.REJECT: RequestStatus.REJECTED,
    DecisionAction.WITHDRAW: RequestStatus.WITHDRAWN,
}


class DecisionRefused(Exception):
    """A decision that must not be applied; `code` is the API's problem code."""

    def __init__(self, code: str, message: str, status: RequestStatus | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


def timeout_outcome(policy: Policy, initiator: Side) -> RequestStatus:
    rule = policy.on_timeout_customer if initiator is Side.CUSTOMER else policy.on_timeout_partner
    return RequestStatus.AUTO_AGREED if rule is TimeoutOutcome.AUTO_AGREE else RequestStatus.EXPIRED


def outcome_of(decision: Decision, policy: Policy, initiator: Side) -> RequestStatus:
    if decision.action is DecisionAction.TIMEOUT:
        return timeout_outcome(policy, initiator)
    return OUTCOME_OF_ACTION[decision.action]


def authorize(decision: Decision, initiator: Side, status: RequestStatus) -> None:
    """Raise DecisionRefused unless `decision` may settle a request in `status`.

    The counterpart agrees or rejects, the initiator withdraws; operators may agree or reject on
    the counterpart's behalf. A reject needs a reason.
    """
    if status is not RequestStatus.PENDING:
        raise DecisionRefused("not_pending", f"The request is already {status}.", status)
    actor: Actor = decision.actor
    action = decision.action
    if action is DecisionAction.TIMEOUT:
        if actor.kind != "system":
            raise DecisionRefused("forbidden", "Only assocflow itself applies a timeout.")
    elif action is DecisionAction.WITHDRAW:
        if actor.side is not initiator:
            raise DecisionRefused("forbidden", "Only the initiator may withdraw the request.")
    elif actor.kind != "operator" and actor.side is not initiator.other:
        raise DecisionRefused(
            "forbidden", f"Only the counterpart ({initiator.other}) may {action} this request."
        )
    if action is DecisionAction.REJECT and not (decision.reason or "").strip():
        raise DecisionRefused("validation_error", "A rejection needs a reason.")
