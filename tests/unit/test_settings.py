from datetime import timedelta

import pytest
from pydantic import ValidationError

from assocflow.settings import Settings
from domain.types import TimeoutOutcome


def test_defaults_follow_the_spec(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("ASSOCFLOW_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.response_window == timedelta(days=10)
    assert settings.reminder_before == timedelta(hours=48)
    assert settings.on_timeout_customer is TimeoutOutcome.AUTO_AGREE
    assert settings.on_timeout_partner is TimeoutOutcome.EXPIRE
    assert (settings.request_limit, settings.request_window_months) == (1, 3)
    assert settings.api_port == 8000
    assert (settings.max_in_flight, settings.answer_within) == (12, timedelta(milliseconds=500))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("PT30S", timedelta(seconds=30)), ("P10D", timedelta(days=10)), ("30", timedelta(seconds=30))],
)
def test_response_window_takes_iso_8601_or_seconds(monkeypatch, raw, expected):
    monkeypatch.setenv("ASSOCFLOW_RESPONSE_WINDOW", raw)
    assert Settings().response_window == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.5", timedelta(milliseconds=500)), ("PT2S", timedelta(seconds=2))],
)
def test_admission_answers_within_seconds_or_iso_8601(monkeypatch, raw, expected):
    monkeypatch.setenv("ASSOCFLOW_ANSWER_WITHIN", raw)
    assert Settings().answer_within == expected


def test_policy_carries_the_env_vars(monkeypatch):
    monkeypatch.setenv("ASSOCFLOW_ON_TIMEOUT_CUSTOMER", "expire")
    monkeypatch.setenv("ASSOCFLOW_ON_TIMEOUT_PARTNER", "auto_agree")
    monkeypatch.setenv("ASSOCFLOW_REQUEST_LIMIT", "2")
    monkeypatch.setenv("ASSOCFLOW_REQUEST_WINDOW_MONTHS", "6")
    policy = Settings().policy()
    assert policy.on_timeout_customer is TimeoutOutcome.EXPIRE
    assert policy.on_timeout_partner is TimeoutOutcome.AUTO_AGREE
    assert (policy.request_limit, policy.request_window_months) == (2, 6)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASSOCFLOW_RESPONSE_WINDOW", "PT0S"),
        ("ASSOCFLOW_RESPONSE_WINDOW", "soon"),
        ("ASSOCFLOW_ON_TIMEOUT_CUSTOMER", "maybe"),
        ("ASSOCFLOW_REQUEST_LIMIT", "0"),
        ("ASSOCFLOW_MAX_IN_FLIGHT", "0"),
        ("ASSOCFLOW_ANSWER_WITHIN", "0"),
    ],
)
def test_bad_values_are_refused_at_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
