"""Runs of consecutive failures, and the locks they lead to, which only time lifts.

Three runs, each with its rule:
- a person's verification codes, and a person's codes at sign-in (CODES): five lock for fifteen
  minutes. Only someone who has the person's password or token gets this far;
- a console password from one client address for one email (FROM_ADDRESS): five lock that
  address out of that email for fifteen minutes, and nobody else;
- a console password for one email from anywhere (FOR_EMAIL): the guessing bound of NIST SP
  800-63B (at most 100 consecutive failures per account), which locks the email for an hour.

The email runs are kept for any email, an account's or not, so that what a guesser sees never
tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rule:
    max_failures: int
    lock: timedelta


CODES = Rule(max_failures=5, lock=timedelta(minutes=15))
FROM_ADDRESS = Rule(max_failures=5, lock=timedelta(minutes=15))
FOR_EMAIL = Rule(max_failures=100, lock=timedelta(hours=1))

# The codes' rule, by the names the verification code paths use.
MAX_FAILURES = CODES.max_failures
LOCK = CODES.lock


@dataclass(frozen=True)
class FailureRun:
    """Consecutive failures, and the end of the lock they led to, if any."""

    failed_attempts: int
    locked_until: datetime | None


NO_FAILURES = FailureRun(0, None)


def lock_remaining(run: FailureRun, at: datetime) -> timedelta | None:
    """How long the lock still holds at `at`; None when there is none."""
    if run.locked_until is not None and run.locked_until > at:
        return run.locked_until - at
    return None


def after_failure(run: FailureRun, at: datetime, rule: Rule = CODES) -> FailureRun:
    """The run after one more failure at `at` (not under a lock): counted, or, at the rule's
    last, a lock for the rule's time and a count that starts again."""
    attempts = run.failed_attempts + 1
    if attempts < rule.max_failures:
        return FailureRun(attempts, None)
    return FailureRun(0, at + rule.lock)
