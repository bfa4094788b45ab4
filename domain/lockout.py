"""Five consecutive failures lock for fifteen minutes, and only time unlocks: the rule for a
person's verification codes and for signing in to the console, each with a run of failures of
its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_FAILURES = 5
LOCK = timedelta(minutes=15)


@dataclass(frozen=True)
class FailureRun:
    """A person's consecutive failures, and the end of the lock they led to, if any."""

    failed_attempts: int
    locked_until: datetime | None


def lock_remaining(run: FailureRun, at: datetime) -> timedelta | None:
    """How long the lock still holds at `at`; None when there is none."""
    if run.locked_until is not None and run.locked_until > at:
        return run.locked_until - at
    return None


def after_failure(run: FailureRun, at: datetime) -> FailureRun:
    """The run after one more failure at `at` (not under a lock): counted, or, at the fifth,
    a lock of fifteen minutes and a count that starts again."""
    attempts = run.failed_attempts + 1
    if attempts < MAX_FAILURES:
        return FailureRun(attempts, None)
    return FailureRun(0, at + LOCK)
