"""The account check: which items apply to which request, and whether each passes (what each
tells the user is in domain/messages.py).

Pure: the store gathers `CheckFacts`, this module decides. The same function runs for the check
routes (`POST /v1/disassociation-checks`, `POST /v1/type-change-checks`), a submit's check, and
again under the association's row lock when a request is accepted.
"""

from __future__ import annotations

from datetime import datetime

from domain import kinds, messages
from domain.limits import next_allowed_at
from domain.types import (
    AssociationType,
    CheckFacts,
    CheckItem,
    CheckResult,
    Policy,
    RequestKind,
    Side,
)

# The order is the order the user sees; the first three apply to every request of every kind.
COMMON_ITEMS = ("association_active", "no_pending_request", "within_request_limit")
PARTNER_ITEMS = (
    "partner_not_frozen",
    "customer_not_frozen",
    "no_orders_awaiting_partner_payment",
    "no_active_reserved_instances",
    "no_active_support_plan",
    "no_unused_vouchers",
    "no_special_contract",
    "no_independent_accounting_members",
)
CUSTOMER_ITEMS = (
    "no_arrears",
    "no_orders_awaiting_partner_payment",
    "currency_set",
    "no_active_reserved_instances",
    "no_special_contract",
    "customer_not_frozen",
)
# A type change, whoever asks: to a type under which the customer buys through the partner...
TO_BILLED_TYPE_ITEMS = (
    "customer_not_frozen",
    "no_arrears",
    "no_special_contract",
    "no_active_reserved_instances",
)
# ...or back to referral, where the partner no longer pays for the customer.
TO_REFERRAL_ITEMS = ("no_orders_awaiting_partner_payment", "no_unused_vouchers")
# A customer's move to another partner: what its disassociation would need, and a partner that
# takes it.
PARTNER_CHANGE_ITEMS = (*CUSTOMER_ITEMS, "new_partner_accepts_customers")


def items_for(
    kind: RequestKind, initiator: Side, new_type: AssociationType | None = None
) -> tuple[str, ...]:
    if kind is RequestKind.TYPE_CHANGE:
        to_type = (
            TO_REFERRAL_ITEMS if new_type is AssociationType.REFERRAL else TO_BILLED_TYPE_ITEMS
        )
        return (*COMMON_ITEMS, "type_differs", *to_type)
    if kind is RequestKind.PARTNER_CHANGE:
        return COMMON_ITEMS + PARTNER_CHANGE_ITEMS
    return COMMON_ITEMS + (PARTNER_ITEMS if initiator is Side.PARTNER else CUSTOMER_ITEMS)


def _passes(
    facts: CheckFacts, allowed_from: datetime | None, new_type: AssociationType | None
) -> dict[str, bool]:
    """Whether each item passes: the rules. What each tells the user is domain/messages.py's."""
    s = facts.standing
    new = facts.new_partner
    return {
        "new_partner_accepts_customers": (
            new is not None and new.exists and not new.frozen and not new.is_current
        ),
        "association_active": facts.association_active,
        "no_pending_request": facts.pending is None,
        "within_request_limit": allowed_from is None,
        "type_differs": new_type is not None and new_type is not facts.association_type,
        "partner_not_frozen": not (facts.partner_frozen or facts.parent_partner_frozen),
        "customer_not_frozen": not s.frozen,
        "no_orders_awaiting_partner_payment": s.orders_awaiting_partner_payment == 0,
        "no_active_reserved_instances": s.active_reserved_instances == 0,
        "no_active_support_plan": not s.active_support_plan,
        "no_unused_vouchers": s.unused_vouchers == 0,
        "no_special_contract": not s.special_contract,
        "no_independent_accounting_members": s.independent_accounting_members == 0,
        "no_arrears": s.arrears == 0,
        "currency_set": s.currency_set,
    }


def evaluate(
    kind: RequestKind,
    initiator: Side,
    facts: CheckFacts,
    policy: Policy,
    as_of: datetime,
    new_type: AssociationType | None = None,
) -> CheckResult:
    """The check of a request of `kind` that `initiator` would start (a type change: to
    `new_type`), on the facts as they stand at `as_of`."""
    rules = kinds.of(kind)
    allowed_from = next_allowed_at(
        facts.accepted_requests, as_of, rules.limit(policy), policy.request_window_months
    )
    passes = _passes(facts, allowed_from, new_type)
    wording = messages.CheckWording(
        kind=kind,
        initiator=initiator,
        facts=facts,
        policy=policy,
        allowed_from=allowed_from,
        new_type=new_type,
    )
    items = [
        CheckItem(code=code, passed=passes[code], message=wording.item(code, passes[code]))
        for code in items_for(kind, initiator, new_type)
    ]
    return CheckResult(
        passed=all(item.passed for item in items), items=items, next_allowed_at=allowed_from
    )
