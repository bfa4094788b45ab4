from datetime import timedelta

import pytest

from domain.decisions import DecisionRefused, authorize, outcome_of, timeout_outcome
from domain.types import (
    SYSTEM,
    Actor,
    Decision,
    DecisionAction,
    Policy,
    RequestStatus,
    Side,
    TimeoutOutcome,
)

PARTNER_USER = Actor(kind="partner_user", id="u1", side=Side.PARTNER)
CUSTOMER = Actor(kind="customer", id="c1", side=Side.CUSTOMER)
OPERATOR = Actor(kind="operator", id="alice")


def policy(customer=TimeoutOutcome.AUTO_AGREE, partner=TimeoutOutcome.EXPIRE) -> Policy:
    return Policy(
        response_window=timedelta(days=10),
        reminder_before=timedelta(hours=48),
        on_timeout_customer=customer,
        on_timeout_partner=partner,
        request_limit=1,
        request_window_months=3,
    )


def refused_code(decision: Decision, initiator: Side, status=RequestStatus.PENDING) -> str | None:
    try:
        authorize(decision, initiator, status)
    except DecisionRefused as refused:
        return refused.code
    return None


@pytest.mark.parametrize("initiator", list(Side))
def test_only_the_counterpart_agrees_or_rejects_and_only_the_initiator_withdraws(initiator):
    counterpart = CUSTOMER if initiator is Side.PARTNER else PARTNER_USER
    initiating = PARTNER_USER if initiator is Side.PARTNER else CUSTOMER
    agree, reject, withdraw = DecisionAction.AGREE, DecisionAction.REJECT, DecisionAction.WITHDRAW
    assert refused_code(Decision(action=agree, actor=counterpart), initiator) is None
    assert refused_code(Decision(action=reject, actor=counterpart, reason="no"), initiator) is None
    assert refused_code(Decision(action=withdraw, actor=initiating), initiator) is None
    assert refused_code(Decision(action=agree, actor=initiating), initiator) == "forbidden"
    assert (
        refused_code(Decision(action=reject, actor=initiating, reason="x"), initiator)
        == "forbidden"
    )
    assert refused_code(Decision(action=withdraw, actor=counterpart), initiator) == "forbidden"


def test_operators_may_agree_or_reject_but_not_withdraw():
    assert refused_code(Decision(action=DecisionAction.AGREE, actor=OPERATOR), Side.PARTNER) is None
    reject = Decision(action=DecisionAction.REJECT, actor=OPERATOR, reason="fraud check")
    assert refused_code(reject, Side.CUSTOMER) is None
    withdraw = Decision(action=DecisionAction.WITHDRAW, actor=OPERATOR)
    assert refused_code(withdraw, Side.CUSTOMER) == "forbidden"


def test_reject_needs_a_reason():
    for reason in (None, "", "   "):
        decision = Decision(action=DecisionAction.REJECT, actor=CUSTOMER, reason=reason)
        assert refused_code(decision, Side.PARTNER) == "validation_error"


@pytest.mark.parametrize("status", [s for s in RequestStatus if s is not RequestStatus.PENDING])
def test_nothing_settles_a_request_twice(status):
    decision = Decision(action=DecisionAction.AGREE, actor=CUSTOMER)
    with pytest.raises(DecisionRefused) as refused:
        authorize(decision, Side.PARTNER, status)
    assert refused.value.code == "not_pending"
    assert refused.value.status is status


def test_only_the_system_applies_a_timeout():
    assert refused_code(Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM), Side.PARTNER) is None
    timeout_by_user = Decision(action=DecisionAction.TIMEOUT, actor=CUSTOMER)
    assert refused_code(timeout_by_user, Side.PARTNER) == "forbidden"


def test_timeout_outcome_follows_the_policy_of_the_initiators_side():
    default = policy()
    assert timeout_outcome(default, Side.CUSTOMER) is RequestStatus.AUTO_AGREED
    assert timeout_outcome(default, Side.PARTNER) is RequestStatus.EXPIRED
    flipped = policy(customer=TimeoutOutcome.EXPIRE, partner=TimeoutOutcome.AUTO_AGREE)
    assert timeout_outcome(flipped, Side.CUSTOMER) is RequestStatus.EXPIRED
    assert timeout_outcome(flipped, Side.PARTNER) is RequestStatus.AUTO_AGREED
    timeout = Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM)
    assert outcome_of(timeout, flipped, Side.PARTNER) is RequestStatus.AUTO_AGREED
    agree = Decision(action=DecisionAction.AGREE, actor=CUSTOMER)
    assert outcome_of(agree, flipped, Side.PARTNER) is RequestStatus.AGREED
