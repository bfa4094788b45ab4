from datetime import UTC, datetime, timedelta

import pytest

from domain.decisions import (
    PARTY_ACTIONS,
    DecisionContext,
    DecisionRefused,
    authorize,
    open_to_parties,
    outcome_of,
    timeout_outcome,
)
from domain.types import (
    SYSTEM,
    WORKFLOW_CANCELLATION,
    Actor,
    Decision,
    DecisionAction,
    Permission,
    Policy,
    RequestKind,
    RequestStatus,
    Side,
    TimeoutOutcome,
)

DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE
PARTNER_CHANGE = RequestKind.PARTNER_CHANGE

PARTNER_USER = Actor(kind="partner_user", id="u1", side=Side.PARTNER)
CUSTOMER = Actor(kind="customer", id="c1", side=Side.CUSTOMER)
OPERATOR = Actor(kind="operator", id="alice")
IN_THE_UI = Actor(kind="temporal_ui", id="bob", verified=False)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def policy(customer=TimeoutOutcome.AUTO_AGREE, partner=TimeoutOutcome.EXPIRE) -> Policy:
    return Policy(
        response_window=timedelta(days=10),
        reminder_before=timedelta(hours=48),
        on_timeout_customer=customer,
        on_timeout_partner=partner,
        request_limit=1,
        request_window_months=3,
    )


def context(
    initiator: Side,
    status: RequestStatus = RequestStatus.PENDING,
    respond_by: datetime | None = NOW + timedelta(days=1),
) -> DecisionContext:
    return DecisionContext(
        initiator=initiator,
        status=status,
        respond_by=respond_by,
        on_timeout=timeout_outcome(DISASSOCIATION, policy(), initiator),
    )


def refused_code(decision: Decision, initiator: Side, status=RequestStatus.PENDING) -> str | None:
    try:
        authorize(decision, context(initiator, status), NOW)
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
        authorize(decision, context(Side.PARTNER, status), NOW)
    assert refused.value.code == "not_pending"
    assert refused.value.status is status


def test_only_the_system_applies_a_timeout():
    assert refused_code(Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM), Side.PARTNER) is None
    timeout_by_user = Decision(action=DecisionAction.TIMEOUT, actor=CUSTOMER)
    assert refused_code(timeout_by_user, Side.PARTNER) == "forbidden"


def test_timeout_outcome_follows_the_policy_of_the_initiators_side():
    default = policy()
    assert timeout_outcome(DISASSOCIATION, default, Side.CUSTOMER) is RequestStatus.AUTO_AGREED
    assert timeout_outcome(DISASSOCIATION, default, Side.PARTNER) is RequestStatus.EXPIRED
    flipped = policy(customer=TimeoutOutcome.EXPIRE, partner=TimeoutOutcome.AUTO_AGREE)
    assert timeout_outcome(DISASSOCIATION, flipped, Side.CUSTOMER) is RequestStatus.EXPIRED
    assert timeout_outcome(DISASSOCIATION, flipped, Side.PARTNER) is RequestStatus.AUTO_AGREED
    timeout = Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM)
    assert outcome_of(timeout, DISASSOCIATION, flipped, Side.PARTNER) is RequestStatus.AUTO_AGREED
    agree = Decision(action=DecisionAction.AGREE, actor=CUSTOMER)
    assert outcome_of(agree, DISASSOCIATION, flipped, Side.PARTNER) is RequestStatus.AGREED


def test_a_type_change_expires_on_its_deadline_whoever_asked_and_whatever_the_policy():
    flipped = policy(customer=TimeoutOutcome.AUTO_AGREE, partner=TimeoutOutcome.AUTO_AGREE)
    timeout = Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM)
    for side in Side:
        assert timeout_outcome(TYPE_CHANGE, flipped, side) is RequestStatus.EXPIRED
        assert outcome_of(timeout, TYPE_CHANGE, flipped, side) is RequestStatus.EXPIRED


@pytest.mark.parametrize("initiator", list(Side))
@pytest.mark.parametrize("late_by", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_a_decision_at_or_after_the_deadline_loses_to_it(initiator, late_by):
    counterpart = CUSTOMER if initiator is Side.PARTNER else PARTNER_USER
    deadline = context(initiator, respond_by=NOW - late_by)
    for decision in (
        Decision(action=DecisionAction.AGREE, actor=counterpart),
        Decision(action=DecisionAction.REJECT, actor=counterpart, reason="no"),
        Decision(action=DecisionAction.AGREE, actor=OPERATOR),
        Decision(action=DecisionAction.CANCEL, actor=OPERATOR),
    ):
        with pytest.raises(DecisionRefused) as refused:
            authorize(decision, deadline, NOW)
        assert refused.value.code == "not_pending"
        assert refused.value.status is timeout_outcome(DISASSOCIATION, policy(), initiator)
    authorize(Decision(action=DecisionAction.TIMEOUT, actor=SYSTEM), deadline, NOW)


def test_a_decision_just_before_the_deadline_counts():
    just_before = context(Side.CUSTOMER, respond_by=NOW + timedelta(microseconds=1))
    authorize(Decision(action=DecisionAction.AGREE, actor=PARTNER_USER), just_before, NOW)


def test_a_request_being_checked_has_no_deadline_yet():
    checking = context(Side.CUSTOMER, respond_by=None)
    authorize(Decision(action=DecisionAction.AGREE, actor=PARTNER_USER), checking, NOW)


def test_only_operators_cancel_and_the_temporal_ui_counts_as_one():
    cancel = DecisionAction.CANCEL
    for actor in (OPERATOR, IN_THE_UI, WORKFLOW_CANCELLATION):
        assert refused_code(Decision(action=cancel, actor=actor), Side.CUSTOMER) is None
    for actor in (PARTNER_USER, CUSTOMER, SYSTEM):
        assert refused_code(Decision(action=cancel, actor=actor), Side.CUSTOMER) == "forbidden"
    ui_reject = Decision(action=DecisionAction.REJECT, actor=IN_THE_UI, reason="phone call")
    assert refused_code(ui_reject, Side.PARTNER) is None


def test_an_unverified_name_says_so_wherever_it_is_recorded():
    assert IN_THE_UI.ref == "temporal_ui:bob (unverified)"
    assert OPERATOR.ref == "operator:alice"


def test_each_party_action_needs_its_kinds_permission_and_operators_alone_cancel():
    from domain.decisions import PARTY_ACTIONS, permission_for

    assert set(PARTY_ACTIONS) == set(DecisionAction) - {
        DecisionAction.CANCEL,
        DecisionAction.TIMEOUT,
    }
    expected = {
        (DISASSOCIATION, DecisionAction.AGREE): Permission.DISASSOCIATIONS_PROCESS,
        (DISASSOCIATION, DecisionAction.REJECT): Permission.DISASSOCIATIONS_PROCESS,
        (DISASSOCIATION, DecisionAction.WITHDRAW): Permission.DISASSOCIATIONS_SUBMIT,
        (TYPE_CHANGE, DecisionAction.AGREE): Permission.TYPE_CHANGES_PROCESS,
        (TYPE_CHANGE, DecisionAction.REJECT): Permission.TYPE_CHANGES_PROCESS,
        (TYPE_CHANGE, DecisionAction.WITHDRAW): Permission.TYPE_CHANGES_SUBMIT,
        # A partner change: both partners answer with one permission; only the customer asks.
        (PARTNER_CHANGE, DecisionAction.AGREE): Permission.PARTNER_CHANGES_PROCESS,
        (PARTNER_CHANGE, DecisionAction.REJECT): Permission.PARTNER_CHANGES_PROCESS,
        (PARTNER_CHANGE, DecisionAction.ACCEPT): Permission.PARTNER_CHANGES_PROCESS,
        (PARTNER_CHANGE, DecisionAction.DECLINE): Permission.PARTNER_CHANGES_PROCESS,
    }
    for kind in RequestKind:
        for action in DecisionAction:
            assert permission_for(kind, action) is expected.get((kind, action))


def test_consent_is_verified_and_withdrawing_ones_own_request_is_not():
    from domain.decisions import needs_verification

    assert needs_verification(DecisionAction.AGREE) and needs_verification(DecisionAction.REJECT)
    assert not needs_verification(DecisionAction.WITHDRAW)


# --- a partner change: two consents awaited together --------------------------------------

CURRENT = Actor(kind="partner_user", id="current", side=Side.PARTNER)
NEW = Actor(kind="partner_user", id="new", side=Side.PARTNER)


def partner_change(given=frozenset(), status=RequestStatus.PENDING) -> DecisionContext:
    return DecisionContext(
        initiator=Side.CUSTOMER,
        status=status,
        respond_by=NOW + timedelta(days=1),
        kind=PARTNER_CHANGE,
        given=frozenset(given),
    )


def by(actor, action, party, reason=None):
    return Decision(action=action, actor=actor, party=party, reason=reason)


def test_each_partner_answers_for_itself_and_operators_only_cancel():
    from domain.types import Party

    context = partner_change()
    authorize(by(CURRENT, DecisionAction.AGREE, Party.PARTNER), context, NOW)
    authorize(by(NEW, DecisionAction.ACCEPT, Party.NEW_PARTNER), context, NOW)
    for wrong in (
        by(CURRENT, DecisionAction.ACCEPT, Party.PARTNER),
        by(NEW, DecisionAction.AGREE, Party.NEW_PARTNER),
        by(CUSTOMER, DecisionAction.AGREE, Party.CUSTOMER),
        by(OPERATOR, DecisionAction.AGREE, None),
        by(IN_THE_UI, DecisionAction.ACCEPT, None),
    ):
        with pytest.raises(DecisionRefused) as refused:
            authorize(wrong, context, NOW)
        assert refused.value.code == "forbidden"
    authorize(Decision(action=DecisionAction.CANCEL, actor=OPERATOR), context, NOW)
    authorize(Decision(action=DecisionAction.WITHDRAW, actor=CUSTOMER), context, NOW)


def test_a_partner_answers_once_and_a_refusal_needs_a_reason():
    from domain.kinds import Consenter
    from domain.types import Party

    agreed = partner_change({Consenter.PARTNER})
    with pytest.raises(DecisionRefused) as refused:
        authorize(by(CURRENT, DecisionAction.REJECT, Party.PARTNER, "no"), agreed, NOW)
    assert refused.value.code == "already_answered"
    authorize(by(NEW, DecisionAction.DECLINE, Party.NEW_PARTNER, "no"), agreed, NOW)
    with pytest.raises(DecisionRefused) as refused:
        authorize(by(NEW, DecisionAction.DECLINE, Party.NEW_PARTNER), agreed, NOW)
    assert refused.value.code == "validation_error"


def test_both_consents_complete_it_and_the_first_refusal_ends_it():
    from domain.kinds import Consenter
    from domain.types import Party

    p = policy()
    agree = by(CURRENT, DecisionAction.AGREE, Party.PARTNER)
    accept = by(NEW, DecisionAction.ACCEPT, Party.NEW_PARTNER)
    assert outcome_of(agree, PARTNER_CHANGE, p, Side.CUSTOMER) is None
    assert outcome_of(accept, PARTNER_CHANGE, p, Side.CUSTOMER) is None
    assert outcome_of(accept, PARTNER_CHANGE, p, Side.CUSTOMER, frozenset({Consenter.PARTNER})) is (
        RequestStatus.COMPLETED
    )
    assert outcome_of(
        agree, PARTNER_CHANGE, p, Side.CUSTOMER, frozenset({Consenter.NEW_PARTNER})
    ) is (RequestStatus.COMPLETED)
    reject = by(CURRENT, DecisionAction.REJECT, Party.PARTNER, "no")
    decline = by(NEW, DecisionAction.DECLINE, Party.NEW_PARTNER, "no")
    given = frozenset({Consenter.NEW_PARTNER})
    assert outcome_of(reject, PARTNER_CHANGE, p, Side.CUSTOMER, given) is RequestStatus.REJECTED
    given = frozenset({Consenter.PARTNER})
    assert outcome_of(decline, PARTNER_CHANGE, p, Side.CUSTOMER, given) is RequestStatus.DECLINED


def test_on_the_deadline_the_current_partners_silence_agrees_and_the_new_partners_expires():
    from domain.kinds import Consenter

    expire_all = policy(customer=TimeoutOutcome.EXPIRE, partner=TimeoutOutcome.EXPIRE)
    for p in (policy(), expire_all):  # whatever the policy of disassociations says
        assert timeout_outcome(PARTNER_CHANGE, p, Side.CUSTOMER) is RequestStatus.EXPIRED
        assert (
            timeout_outcome(PARTNER_CHANGE, p, Side.CUSTOMER, frozenset({Consenter.PARTNER}))
            is RequestStatus.EXPIRED
        )
        assert (
            timeout_outcome(PARTNER_CHANGE, p, Side.CUSTOMER, frozenset({Consenter.NEW_PARTNER}))
            is RequestStatus.COMPLETED
        )


ACTORS = (
    PARTNER_USER,
    CUSTOMER,
    OPERATOR,
    IN_THE_UI,
    Actor(kind="partner", id="p2", side=Side.PARTNER),
)


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("initiator", [Side.PARTNER, Side.CUSTOMER])
@pytest.mark.parametrize("status", list(RequestStatus))
@pytest.mark.parametrize(
    "respond_by", [None, NOW - timedelta(seconds=1), NOW, NOW + timedelta(days=1)]
)
def test_a_request_not_open_to_parties_refuses_every_party_action_and_an_open_one_takes_some(
    kind, initiator, status, respond_by
):
    """What the console offers reads `open_to_parties` first: it must agree with `authorize`."""
    asked = DecisionContext(initiator=initiator, status=status, respond_by=respond_by, kind=kind)
    allowed = set()
    for action in PARTY_ACTIONS:
        for actor in ACTORS:
            decision = Decision(action=action, actor=actor, reason="-", party=actor.side)
            try:
                authorize(decision, asked, NOW)
            except DecisionRefused:
                continue
            allowed.add((action, actor))
    if not open_to_parties(asked, NOW):
        assert allowed == set()
    else:
        assert allowed, "an open request takes some party's decision"
