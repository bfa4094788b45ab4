"""Five consecutive failures lock for fifteen minutes, and only time unlocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.lockout import (
    FOR_EMAIL,
    FROM_ADDRESS,
    LOCK,
    MAX_FAILURES,
    FailureRun,
    after_failure,
    lock_remaining,
)

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


def test_signing_in_from_one_address_locks_that_address_and_the_email_keeps_the_nist_bound():
    # NIST SP 800-63B: no more than 100 consecutive failed attempts on one account.
    assert FOR_EMAIL.max_failures <= 100
    assert FROM_ADDRESS.max_failures < FOR_EMAIL.max_failures
    run = FailureRun(0, None)
    for _ in range(FOR_EMAIL.max_failures - 1):
        run = after_failure(run, AT, FOR_EMAIL)
    assert run.locked_until is None
    assert after_failure(run, AT, FOR_EMAIL) == FailureRun(0, AT + FOR_EMAIL.lock)
