"""The lifecycle's timing rules, held by the policy a request keeps for life: its deadline, its
reminder, and what its side's request limit counts across."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.types import LimitScope, Policy, Side, TimeoutOutcome

ACCEPTED = datetime(2026, 11, 27, 9, tzinfo=UTC)


def policy(window: timedelta, reminder: timedelta, **scopes: LimitScope) -> Policy:
    return Policy(
        response_window=window,
        reminder_before=reminder,
        on_timeout_customer=TimeoutOutcome.AUTO_AGREE,
        on_timeout_partner=TimeoutOutcome.EXPIRE,
        request_limit=1,
        request_window_months=3,
        **scopes,
    )


def test_respond_by_is_acceptance_plus_the_window_and_the_reminder_comes_before_it():
    ten_days = policy(timedelta(days=10), timedelta(hours=48))
    assert ten_days.respond_by(ACCEPTED) == ACCEPTED + timedelta(days=10)
    assert ten_days.reminder_at(ACCEPTED) == ACCEPTED + timedelta(days=8)


@pytest.mark.parametrize(
    ("window", "reminder"),
    [
        (timedelta(days=10), timedelta(0)),  # no lead time: no reminder
        (timedelta(hours=48), timedelta(hours=48)),  # it would come with the request itself
        (timedelta(seconds=30), timedelta(hours=48)),  # a demo's short window
    ],
)
def test_no_reminder_that_would_only_repeat_the_request(window, reminder):
    assert policy(window, reminder).reminder_at(ACCEPTED) is None


def test_a_customers_requests_count_across_its_associations_by_default():
    default = policy(timedelta(days=10), timedelta(hours=48))
    assert default.limit_scope(Side.CUSTOMER) is LimitScope.CUSTOMER
    assert default.limit_scope(Side.PARTNER) is LimitScope.ASSOCIATION
    configured = policy(
        timedelta(days=10),
        timedelta(hours=48),
        customer_limit_scope=LimitScope.ASSOCIATION,
        partner_limit_scope=LimitScope.PARTNER,
    )
    assert configured.limit_scope(Side.CUSTOMER) is LimitScope.ASSOCIATION
    assert configured.limit_scope(Side.PARTNER) is LimitScope.PARTNER


def test_a_policy_recorded_before_the_scopes_existed_reads_with_the_defaults():
    recorded = {
        "response_window": "P10D", "reminder_before": "PT48H", "on_timeout_customer": "auto_agree",
        "on_timeout_partner": "expire", "request_limit": 1, "request_window_months": 3,
    }  # fmt: skip
    assert Policy.model_validate(recorded).limit_scope(Side.CUSTOMER) is LimitScope.CUSTOMER
