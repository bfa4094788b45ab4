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
    Party,
    Permission,
    Policy,
    RequestKind,
    RequestStatus,
    Side,
)

# The outcome of an action that ends a request whatever else it awaits.
OUTCOME_OF_ACTION = {
    DecisionAction.WITHDRAW: RequestStatus.WITHDRAWN,
    DecisionAction.CANCEL: RequestStatus.CANCELLED,
}


# The actions a party may take: a consenting party answers (the kind's `process` permission),
# the initiator withdraws (its `submit` permission); operators need none, and only they cancel.
PARTY_ACTIONS = (
    DecisionAction.AGREE,
    DecisionAction.REJECT,
    DecisionAction.ACCEPT,
    DecisionAction.DECLINE,
    DecisionAction.WITHDRAW,
)
# A party's answer: what the acting person's verification code guards.
ANSWERS = frozenset(
    {DecisionAction.AGREE, DecisionAction.REJECT, DecisionAction.ACCEPT, DecisionAction.DECLINE}
)


def permission_for(kind: RequestKind, action: DecisionAction) -> Permission | None:
    """The permission a partner's person needs to take `action` on a request of `kind`; None
    where no permission gates it (who may take it at all is `authorize`'s rule)."""
    rules = kinds.of(kind)
    if action is DecisionAction.WITHDRAW:
        return rules.submit
    return rules.process if rules.consent_for(action) is not None else None


def needs_verification(action: DecisionAction) -> bool:
    """Whether the acting person's verification code guards `action`, where their account
    requires one: a party's answer does; withdrawing one's own request does not."""
    return action in ANSWERS


class Refusal(StrEnum):
    """Why a decision is refused: the API's problem code, and the error type a refusal carries
    across the Temporal boundary."""

    NOT_PENDING = ProblemCode.NOT_PENDING.value
    ALREADY_ANSWERED = ProblemCode.ALREADY_ANSWERED.value
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
    kind: RequestKind = RequestKind.DISASSOCIATION
    # The consents given so far (a request that awaits more than one).
    given: frozenset[kinds.Consenter] = frozenset()


def timeout_outcome(
    kind: RequestKind,
    policy: Policy,
    initiator: Side,
    given: frozenset[kinds.Consenter] = frozenset(),
) -> RequestStatus:
    return kinds.of(kind).timeout_outcome(policy, initiator, given)


def outcome_of(
    decision: Decision,
    kind: RequestKind,
    policy: Policy,
    initiator: Side,
    given: frozenset[kinds.Consenter] = frozenset(),
) -> RequestStatus | None:
    """The status `decision` settles the request in, the consents in `given` having been given;
    None for a consent that leaves another still awaited."""
    action = decision.action
    if action is DecisionAction.TIMEOUT:
        return timeout_outcome(kind, policy, initiator, given)
    if action in OUTCOME_OF_ACTION:
        return OUTCOME_OF_ACTION[action]
    rules = kinds.of(kind)
    consent = rules.consent_for(action)
    assert consent is not None, f"{action} is no answer to a {rules.noun}"  # authorize refused it
    if action is consent.no:
        return consent.refused
    others = {c.who for c in rules.consents} - {consent.who}
    return rules.agreed if others <= given else None


def authorize(decision: Decision, request: DecisionContext, now: datetime) -> None:
    """Raise DecisionRefused unless `decision` may take effect on `request` at `now`.

    The parties whose consent the request awaits answer (the counterpart agrees or rejects; a
    partner change's partners agree or reject, accept or decline), each once; the initiator
    withdraws; operators may answer for the counterpart (where one party's consent is awaited)
    or cancel; only assocflow applies the deadline. Then: a request no longer pending takes no
    decision, and a decision at or after `respond_by` loses to the deadline's outcome. A refusal
    needs a reason.
    """
    consent = _may_decide(decision, request.kind, request.initiator)
    if request.status is not RequestStatus.PENDING:
        raise DecisionRefused(Refusal.NOT_PENDING, messages.already(request.status), request.status)
    passed = _passed_deadline(request, now)
    if decision.action is not DecisionAction.TIMEOUT and passed is not None:
        raise DecisionRefused(
            Refusal.NOT_PENDING,
            messages.past_deadline(passed, request.on_timeout),
            request.on_timeout,
        )
    if consent is not None and consent.who in request.given:
        raise DecisionRefused(Refusal.ALREADY_ANSWERED, messages.already_answered())
    if (
        consent is not None
        and decision.action is consent.no
        and not (decision.reason or "").strip()
    ):
        raise DecisionRefused(Refusal.VALIDATION_ERROR, messages.reject_needs_a_reason())


def open_to_parties(request: DecisionContext, now: datetime) -> bool:
    """Whether any party's decision could still take effect on `request` at `now`: it is pending
    and its deadline has not come (`authorize`'s first two refusals, without their words). What
    is not open refuses every party's action, whoever asks."""
    return request.status is RequestStatus.PENDING and _passed_deadline(request, now) is None


def _passed_deadline(request: DecisionContext, now: datetime) -> datetime | None:
    """The request's deadline, if `now` is at or after it."""
    if request.respond_by is not None and now >= request.respond_by:
        return request.respond_by
    return None


def _may_decide(decision: Decision, kind: RequestKind, initiator: Side) -> kinds.Consent | None:
    """Whether this actor may take this action on a request of `kind` that `initiator` started,
    whatever its state (who may decide comes before whether it still can: 403 before 409); the
    consent the action answers, if it is an answer."""
    action, actor = decision.action, decision.actor
    if action is DecisionAction.TIMEOUT:
        if actor.kind != "system":
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_the_system_times_out())
        return None
    if action is DecisionAction.CANCEL:
        if not actor.acts_for_platform:
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_operators_cancel())
        return None
    if action is DecisionAction.WITHDRAW:
        if actor.acts_for_platform or actor.side is not initiator:
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_the_initiator_withdraws())
        return None
    rules = kinds.of(kind)
    consent = rules.consent_for(action)
    if consent is None:
        raise DecisionRefused(Refusal.FORBIDDEN, messages.no_such_answer(rules.noun, action))
    if actor.acts_for_platform:
        # Operators answer for the counterpart of a request that awaits one consent; a partner
        # change's partners answer for themselves.
        if len(rules.consents) > 1:
            raise DecisionRefused(Refusal.FORBIDDEN, messages.only_the_party(action))
        return consent
    party = consent.party(initiator)
    acting_for = decision.party or (Party(actor.side.value) if actor.side else None)
    if acting_for is not party:
        if consent.who is kinds.Consenter.COUNTERPART:
            raise DecisionRefused(
                Refusal.FORBIDDEN, messages.only_the_counterpart(initiator.other, action)
            )
        raise DecisionRefused(Refusal.FORBIDDEN, messages.only_the_party(action))
    return consent
