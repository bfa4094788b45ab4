"""The account check: which items apply to which initiator, and what each one tells the user.

Pure: the store gathers `CheckFacts`, this module decides. The same function runs for
`POST /v1/disassociation-checks`, inside the workflow's check activity, and again under the
association's row lock when a request is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from domain.limits import next_allowed_at
from domain.types import AccountStanding, CheckItem, CheckResult, LimitScope, Policy, Side


class CheckFacts(BaseModel):
    association_active: bool
    pending_request: bool
    # Submission times of this side's accepted requests (any outcome) within the policy's limit
    # scope: this association, or all of the customer's (or partner's) associations.
    accepted_requests: list[datetime]
    partner_frozen: bool
    parent_partner_frozen: bool
    standing: AccountStanding


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


_ACROSS = {
    LimitScope.ASSOCIATION: " for this association",
    LimitScope.CUSTOMER: " across all of the customer's associations",
    LimitScope.PARTNER: " across all of the partner's associations",
}


def _across(policy: Policy, initiator: Side) -> str:
    return _ACROSS[policy.limit_scope(initiator)]


def _outcome(ok: bool, passed_text: str, failed_text: str) -> tuple[bool, str]:
    return ok, passed_text if ok else failed_text


def evaluate(initiator: Side, facts: CheckFacts, policy: Policy, as_of: datetime) -> CheckResult:
    s = facts.standing
    allowed_from = next_allowed_at(
        facts.accepted_requests, as_of, policy.request_limit, policy.request_window_months
    )
    rules: dict[str, Callable[[], tuple[bool, str]]] = {
        "association_active": lambda: _outcome(
            facts.association_active,
            "The association is active.",
            "The association has already ended; there is nothing to disassociate.",
        ),
        "no_pending_request": lambda: _outcome(
            not facts.pending_request,
            "No other request is pending for this association.",
            "A disassociation request is already pending for this association; wait for its "
            "outcome or withdraw it.",
        ),
        "within_request_limit": lambda: _outcome(
            allowed_from is None,
            f"Within the limit of {policy.request_limit} request(s) per "
            f"{policy.request_window_months} calendar month(s){_across(policy, initiator)}.",
            f"The limit of {policy.request_limit} request(s) per "
            f"{policy.request_window_months} calendar month(s){_across(policy, initiator)} is"
            f" reached; a new request is allowed from"
            f" {allowed_from.isoformat() if allowed_from else ''}.",
        ),
        "partner_not_frozen": lambda: _outcome(
            not (facts.partner_frozen or facts.parent_partner_frozen),
            "The partner account is in good standing.",
            "The partner account is frozen; contact the platform to unfreeze it."
            if facts.partner_frozen
            else "The partner's parent distributor is frozen; it must be unfrozen first.",
        ),
        "customer_not_frozen": lambda: _outcome(
            not s.frozen,
            "The customer account is not frozen.",
            "The customer account is frozen; it must be unfrozen first.",
        ),
        "no_orders_awaiting_partner_payment": lambda: _outcome(
            s.orders_awaiting_partner_payment == 0,
            "No orders await payment by the partner.",
            f"{s.orders_awaiting_partner_payment} order(s) await payment by the partner; pay or "
            "cancel them.",
        ),
        "no_active_reserved_instances": lambda: _outcome(
            s.active_reserved_instances == 0,
            "No active reserved instances.",
            f"{s.active_reserved_instances} reserved instance(s) are still active; let them "
            "expire or release them.",
        ),
        "no_active_support_plan": lambda: _outcome(
            not s.active_support_plan,
            "No active support plan.",
            "A support plan is active; unsubscribe from it first.",
        ),
        "no_unused_vouchers": lambda: _outcome(
            s.unused_vouchers == 0,
            "No unused vouchers.",
            f"{s.unused_vouchers} voucher(s) are unused; use or reclaim them.",
        ),
        "no_special_contract": lambda: _outcome(
            not s.special_contract,
            "No special contract applies.",
            "A special contract applies to this customer; end it with the platform first.",
        ),
        "no_independent_accounting_members": lambda: _outcome(
            s.independent_accounting_members == 0,
            "No independent accounting members.",
            f"{s.independent_accounting_members} independent accounting member(s) remain; "
            "remove them first.",
        ),
        "no_arrears": lambda: _outcome(
            s.arrears == 0,
            "No arrears.",
            f"The account is in arrears ({s.arrears}); settle them first.",
        ),
        "currency_set": lambda: _outcome(
            s.currency_set,
            "The account currency is set.",
            "The account currency is not set; set it in the billing settings.",
        ),
    }
    items = [
        CheckItem(code=code, passed=passed, message=message)
        for code in items_for(initiator)
        for passed, message in [rules[code]()]
    ]
    return CheckResult(
        passed=all(item.passed for item in items), items=items, next_allowed_at=allowed_from
    )
