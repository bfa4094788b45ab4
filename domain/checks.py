"""The account check: which items apply to which initiator, and whether each passes (what each
tells the user is in domain/messages.py).

Pure: the store gathers `CheckFacts`, this module decides. The same function runs for
`POST /v1/disassociation-checks`, inside the workflow's check activity, and again under the
association's row lock when a request is accepted.
"""

from __future__ import annotations

from datetime import datetime

from domain import messages
from domain.limits import next_allowed_at
from domain.types import CheckFacts, CheckItem, CheckResult, Policy, Side

# The order is the order the user sees; the first three apply to every request.
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


def items_for(initiator: Side) -> tuple[str, ...]:
    return COMMON_ITEMS + (PARTNER_ITEMS if initiator is Side.PARTNER else CUSTOMER_ITEMS)


def _passes(facts: CheckFacts, allowed_from: datetime | None) -> dict[str, bool]:
    """Whether each item passes: the rules. What each tells the user is domain/messages.py's."""
    s = facts.standing
    return {
        "association_active": facts.association_active,
        "no_pending_request": not facts.pending_request,
        "within_request_limit": allowed_from is None,
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


def evaluate(initiator: Side, facts: CheckFacts, policy: Policy, as_of: datetime) -> CheckResult:
    allowed_from = next_allowed_at(
        facts.accepted_requests, as_of, policy.request_limit, policy.request_window_months
    )
    passes = _passes(facts, allowed_from)
    items = [
        CheckItem(
            code=code,
            passed=passes[code],
            message=messages.check_item(code, passes[code], facts, policy, initiator, allowed_from),
        )
        for code in items_for(initiator)
    ]
    return CheckResult(
        passed=all(item.passed for item in items), items=items, next_allowed_at=allowed_from
    )
