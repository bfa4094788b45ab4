"""Five consecutive failures lock for fifteen minutes, and only time unlocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.lockout import LOCK, MAX_FAILURES, FailureRun, after_failure, lock_remaining

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_the_fifth_failure_in_a_row_locks_for_fifteen_minutes_and_starts_the_count_again():
    run = FailureRun(0, None)
    for attempts in range(1, MAX_FAILURES):
        run = after_failure(run, AT)
        assert run == FailureRun(attempts, None)
    assert after_failure(run, AT) == FailureRun(0, AT + timedelta(minutes=15))


def test_a_lock_holds_until_its_end_and_not_after():
    locked = FailureRun(0, AT + LOCK)
    assert lock_remaining(locked, AT) == LOCK
    assert lock_remaining(locked, AT + LOCK - timedelta(seconds=1)) == timedelta(seconds=1)
    assert lock_remaining(locked, AT + LOCK) is None
    assert lock_remaining(FailureRun(3, None), AT) is None
