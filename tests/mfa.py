"""A person's authenticator app, and a clock for the codes, in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from application import mfa
from tests.factories import bearer

STEP = timedelta(seconds=30)


@dataclass
class Clock:
    """The time codes are judged at, moved by the test (application/mfa.py `now`)."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.at

    def tick(self, steps: int = 1) -> None:
        self.at += STEP * steps


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moving = Clock()
    monkeypatch.setattr(mfa, "now", moving.now)
    return moving


@dataclass
class Authenticator:
    """The app a person enrolled: its codes at any moment."""

    uri: str

    def code(self, at: datetime, steps: int = 0) -> str:
        return pyotp.parse_uri(self.uri).at(at + STEP * steps)


async def enrol(api, token: str, clock: Clock) -> tuple[Authenticator, list[str]]:
    """Enrol the token's person and confirm with a first code; the clock moves on a step, so the
    next code is a fresh one. Returns the app and the recovery codes."""
    started = await api.post("/v1/mfa/enrolment", headers=bearer(token))
    assert started.status_code == 201, started.text
    app = Authenticator(started.json()["otpauth_uri"])
    confirmed = await api.post(
        "/v1/mfa/enrolment/confirm", json={"code": app.code(clock.at)}, headers=bearer(token)
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.tick()
    return app, confirmed.json()["recovery_codes"]


async def require_verification(api, admin_token: str) -> None:
    turned_on = await api.patch(
        "/v1/settings", json={"verification_required": True}, headers=bearer(admin_token)
    )
    assert turned_on.status_code == 200, turned_on.text
    assert turned_on.json()["verification_required"] is True
