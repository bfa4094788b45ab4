from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from domain.checks import evaluate
from domain.types import (
    AccountStanding,
    AssociationType,
    CheckFacts,
    PendingRequest,
    Policy,
    RequestKind,
    Side,
    TimeoutOutcome,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PENDING_ID = UUID("3f0c36d2-8a53-4c8e-9a43-6f0b1d3c2a77")
POLICY = Policy(
    response_window=timedelta(days=10),
    reminder_before=timedelta(hours=48),
    on_timeout_customer=TimeoutOutcome.AUTO_AGREE,
    on_timeout_partner=TimeoutOutcome.EXPIRE,
    request_limit=1,
    request_window_months=3,
)


def facts(**changes) -> CheckFacts:
    base = {
        "association_active": True,
        "association_type": AssociationType.RESALE,
        "accepted_requests": [],
        "partner_frozen": False,
        "parent_partner_frozen": False,
        "standing": AccountStanding(),
    }
    base.update(changes)
    return CheckFacts(**base)


def evaluate_disassociation(side, facts, policy, now):
    return evaluate(RequestKind.DISASSOCIATION, side, facts, policy, now)


def failed(result) -> set[str]:
    return {item.code for item in result.items if not item.passed}


def test_items_follow_the_spec_for_each_initiator():
    partner = evaluate_disassociation(Side.PARTNER, facts(), POLICY, NOW)
    customer = evaluate_disassociation(Side.CUSTOMER, facts(), POLICY, NOW)
    assert [i.code for i in partner.items] == [
        "association_active",
        "no_pending_request",
        "within_request_limit",
        "partner_not_frozen",
        "customer_not_frozen",
        "no_orders_awaiting_partner_payment",
        "no_active_reserved_instances",
        "no_active_support_plan",
        "no_unused_vouchers",
        "no_special_contract",
        "no_independent_accounting_members",
    ]
    assert [i.code for i in customer.items] == [
        "association_active",
        "no_pending_request",
        "within_request_limit",
        "no_arrears",
        "no_orders_awaiting_partner_payment",
        "currency_set",
        "no_active_reserved_instances",
        "no_special_contract",
        "customer_not_frozen",
    ]
    assert partner.passed and customer.passed
    assert all(item.message for item in partner.items + customer.items)


@pytest.mark.parametrize(
    ("standing", "side", "code"),
    [
        ({"frozen": True}, Side.PARTNER, "customer_not_frozen"),
        ({"frozen": True}, Side.CUSTOMER, "customer_not_frozen"),
        (
            {"orders_awaiting_partner_payment": 2},
            Side.PARTNER,
            "no_orders_awaiting_partner_payment",
        ),
        (
            {"orders_awaiting_partner_payment": 1},
            Side.CUSTOMER,
            "no_orders_awaiting_partner_payment",
        ),
        ({"active_reserved_instances": 1}, Side.PARTNER, "no_active_reserved_instances"),
        ({"active_reserved_instances": 3}, Side.CUSTOMER, "no_active_reserved_instances"),
        ({"active_support_plan": True}, Side.PARTNER, "no_active_support_plan"),
        ({"unused_vouchers": 4}, Side.PARTNER, "no_unused_vouchers"),
        ({"special_contract": True}, Side.PARTNER, "no_special_contract"),
        ({"special_contract": True}, Side.CUSTOMER, "no_special_contract"),
        ({"independent_accounting_members": 1}, Side.PARTNER, "no_independent_accounting_members"),
        ({"arrears": Decimal("0.01")}, Side.CUSTOMER, "no_arrears"),
        ({"currency_set": False}, Side.CUSTOMER, "currency_set"),
    ],
)
def test_each_standing_fact_fails_exactly_its_item(standing, side, code):
    result = evaluate_disassociation(side, facts(standing=AccountStanding(**standing)), POLICY, NOW)
    assert not result.passed
    assert failed(result) == {code}


@pytest.mark.parametrize(
    ("standing", "side"),
    [
        ({"arrears": Decimal("5")}, Side.PARTNER),  # arrears only block the customer's own request
        ({"currency_set": False}, Side.PARTNER),
        ({"active_support_plan": True}, Side.CUSTOMER),
        ({"unused_vouchers": 2}, Side.CUSTOMER),
        ({"independent_accounting_members": 2}, Side.CUSTOMER),
    ],
)
def test_facts_outside_the_initiators_list_do_not_block(standing, side):
    assert evaluate_disassociation(
        side, facts(standing=AccountStanding(**standing)), POLICY, NOW
    ).passed


def test_frozen_partner_or_frozen_parent_distributor_blocks_partner_requests_only():
    for frozen in ({"partner_frozen": True}, {"parent_partner_frozen": True}):
        assert failed(evaluate_disassociation(Side.PARTNER, facts(**frozen), POLICY, NOW)) == {
            "partner_not_frozen"
        }
        assert evaluate_disassociation(Side.CUSTOMER, facts(**frozen), POLICY, NOW).passed
    parent = evaluate_disassociation(Side.PARTNER, facts(parent_partner_frozen=True), POLICY, NOW)
    assert "distributor" in next(i.message for i in parent.items if i.code == "partner_not_frozen")


def test_ended_association_and_pending_request_fail_for_both_sides():
    for side in Side:
        assert failed(
            evaluate_disassociation(side, facts(association_active=False), POLICY, NOW)
        ) == {"association_active"}
        assert failed(
            evaluate_disassociation(
                side,
                facts(pending=PendingRequest(id=PENDING_ID, kind=RequestKind.TYPE_CHANGE)),
                POLICY,
                NOW,
            )
        ) == {"no_pending_request"}


def test_request_limit_names_the_date_a_new_request_is_allowed():
    result = evaluate_disassociation(
        Side.CUSTOMER, facts(accepted_requests=[datetime(2026, 5, 2, 9, tzinfo=UTC)]), POLICY, NOW
    )
    assert failed(result) == {"within_request_limit"}
    assert result.next_allowed_at == datetime(2026, 8, 2, 9, tzinfo=UTC)
    assert "2026-08-02" in next(i.message for i in result.items if i.code == "within_request_limit")


def test_a_pending_request_of_another_kind_is_named_by_the_check():
    pending = facts(pending=PendingRequest(id=PENDING_ID, kind=RequestKind.TYPE_CHANGE))
    result = evaluate_disassociation(Side.PARTNER, pending, POLICY, NOW)
    item = next(i for i in result.items if i.code == "no_pending_request")
    assert "type change request" in item.message and str(PENDING_ID) in item.message


def change_type(side, new_type, policy=POLICY, **changes):
    return evaluate(RequestKind.TYPE_CHANGE, side, facts(**changes), policy, NOW, new_type)


@pytest.mark.parametrize("side", list(Side))
def test_type_change_items_follow_the_spec_by_the_new_type(side):
    common = ["association_active", "no_pending_request", "within_request_limit", "type_differs"]
    billed = ["customer_not_frozen", "no_arrears", "no_special_contract",
              "no_active_reserved_instances"]  # fmt: skip
    for new_type in (AssociationType.ADVANCE_PAYMENT, AssociationType.REFERRAL):
        result = change_type(side, new_type)
        expected = common + (
            ["no_orders_awaiting_partner_payment", "no_unused_vouchers"]
            if new_type is AssociationType.REFERRAL
            else billed
        )
        assert [i.code for i in result.items] == expected
        assert result.passed


def test_a_type_change_to_the_current_type_fails_type_differs():
    result = change_type(Side.CUSTOMER, AssociationType.RESALE)
    assert failed(result) == {"type_differs"}
    assert "resale already" in next(i.message for i in result.items if i.code == "type_differs")


@pytest.mark.parametrize(
    ("standing", "new_type", "code"),
    [
        ({"frozen": True}, AssociationType.ADVANCE_PAYMENT, "customer_not_frozen"),
        ({"arrears": Decimal("3")}, AssociationType.ADVANCE_PAYMENT, "no_arrears"),
        ({"special_contract": True}, AssociationType.ADVANCE_PAYMENT, "no_special_contract"),
        ({"active_reserved_instances": 1}, AssociationType.ADVANCE_PAYMENT,
         "no_active_reserved_instances"),
        ({"orders_awaiting_partner_payment": 1}, AssociationType.REFERRAL,
         "no_orders_awaiting_partner_payment"),
        ({"unused_vouchers": 2}, AssociationType.REFERRAL, "no_unused_vouchers"),
    ],
)  # fmt: skip
def test_each_standing_fact_fails_its_type_change_item(standing, new_type, code):
    result = change_type(Side.PARTNER, new_type, standing=AccountStanding(**standing))
    assert failed(result) == {code}


def test_facts_outside_a_type_changes_list_do_not_block_it():
    to_referral = {"frozen": True, "arrears": Decimal("3"), "special_contract": True}
    assert change_type(
        Side.PARTNER, AssociationType.REFERRAL, standing=AccountStanding(**to_referral)
    ).passed
    to_billed = {"unused_vouchers": 2, "orders_awaiting_partner_payment": 1}
    assert change_type(
        Side.CUSTOMER, AssociationType.ADVANCE_PAYMENT, standing=AccountStanding(**to_billed)
    ).passed
    assert change_type(Side.PARTNER, AssociationType.REFERRAL, partner_frozen=True).passed


def test_a_partner_change_checks_the_customers_items_and_the_new_partner():
    from domain.types import NewPartnerFacts

    def move(new_partner, **changes):
        checked = facts(new_partner=new_partner, **changes)
        return evaluate(RequestKind.PARTNER_CHANGE, Side.CUSTOMER, checked, POLICY, NOW)

    welcome = NewPartnerFacts(exists=True)
    result = move(welcome)
    assert result.passed
    assert [i.code for i in result.items] == [
        "association_active", "no_pending_request", "within_request_limit", "no_arrears",
        "no_orders_awaiting_partner_payment", "currency_set", "no_active_reserved_instances",
        "no_special_contract", "customer_not_frozen", "new_partner_accepts_customers",
    ]  # fmt: skip
    for refusing, says in (
        (NewPartnerFacts(exists=False), "No partner has this id"),
        (NewPartnerFacts(exists=True, frozen=True), "frozen"),
        (NewPartnerFacts(exists=True, is_current=True), "your current partner"),
    ):
        refused = move(refusing)
        assert failed(refused) == {"new_partner_accepts_customers"}
        assert says in next(i.message for i in refused.items if not i.passed)
    assert failed(move(welcome, standing=AccountStanding(arrears=Decimal("1")))) == {"no_arrears"}
    limited = move(welcome, accepted_requests=[datetime(2026, 5, 2, 9, tzinfo=UTC)])
    message = next(i.message for i in limited.items if i.code == "within_request_limit")
    assert "disassociation or partner change request(s)" in message


def test_the_type_change_limit_counts_per_association_with_its_own_setting():
    earlier = [datetime(2026, 5, 2, 9, tzinfo=UTC)]
    result = change_type(Side.CUSTOMER, AssociationType.REFERRAL, accepted_requests=earlier)
    assert failed(result) == {"within_request_limit"}
    assert result.next_allowed_at == datetime(2026, 8, 2, 9, tzinfo=UTC)
    message = next(i.message for i in result.items if i.code == "within_request_limit")
    assert "type change request" in message and "whoever asks" in message
    two = POLICY.model_copy(update={"type_change_limit": 2})
    assert change_type(
        Side.CUSTOMER, AssociationType.REFERRAL, two, accepted_requests=earlier
    ).passed
