"""What some use cases add on top of authorization: rate limits, and the acting person's second
factor where the account requires verification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from application import mfa
from application.errors import Failure
from application.mfa import Spent
from application.principal import Principal
from application.services import Services
from assocflow.settings import parse_rate
from domain.problems import ProblemCode
from domain.text import Text
from store import ratelimit
from store.ratelimit import Usage

# The rate limits a caller's request met, for its edge to announce (the API's RateLimit-*
# headers); None where nobody listens.
_met: ContextVar[list[Usage] | None] = ContextVar("assocflow_rate_limits_met", default=None)


@contextmanager
def rate_limits_met() -> Iterator[list[Usage]]:
    """Collect the rate limits the use cases called inside meet (each hit's window)."""
    met: list[Usage] = []
    token = _met.set(met)
    try:
        yield met
    finally:
        _met.reset(token)


def now() -> datetime:
    """The time a rate limit counts a hit at, where the use case has no clock of its own (tests
    hold it still, so that no window turns inside a test)."""
    return datetime.now(UTC)


async def within_rate(pool: AsyncConnectionPool, who: Principal, what: str, rate: str) -> None:
    """`rate_limited` once the caller's account exceeds `rate` for `what`."""
    account = who.account
    await within_limit(
        pool,
        f"{what}:{account.kind}:{account.id}",
        rate,
        Text("Too many {what} requests for this account", what=what),
    )


async def within_limit(
    pool: AsyncConnectionPool, bucket: str, rate: str, too_many: str, at: datetime | None = None
) -> None:
    """`rate_limited` once the hits on `bucket` exceed `rate`; `too_many` says of what, to the
    caller (words: a Text, read in the caller's language). The hit counts in the window of `at`
    (`now()` unless given: a use case with a clock of its own passes its time)."""
    limit, window = parse_rate(rate)
    async with pool.connection() as conn:
        usage = await ratelimit.take(conn, bucket, limit, window, at if at is not None else now())
    met = _met.get()
    if met is not None:
        met.append(usage)
    if usage.exceeded:
        failure = Failure(ProblemCode.RATE_LIMITED, "", retry_after=usage.resets_in)
        failure.detail = Text(
            "{too_many}; try again in {seconds} s.",
            too_many=too_many,
            seconds=failure.retry_after_seconds,
        )
        raise failure


async def verified(
    svc: Services,
    who: Principal,
    operation: str,
    code: str | None,
    *,
    required: bool | None = None,
) -> Spent | None:
    """The acting person's second factor, when their account requires verification (or
    `required`): their TOTP or recovery code, spent; returns what was spent (None when nothing
    was needed), so that an operation that did not happen can give it back.

    A service token has no person behind it: it may go ahead only where the account allows
    service tokens (`service_tokens_may_decide`).
    """
    if not (who.verification_required if required is None else required):
        return None
    if who.service:
        if who.service_tokens_may_decide:
            return None
        raise Failure(
            ProblemCode.VERIFICATION_REQUIRED,
            Text(
                "This account requires a person's verification for {operation}: a service token"
                " may do it only where the account allows service tokens"
                ' (PATCH /v1/settings {{"service_tokens_may_decide": true}}).',
                operation=operation,
            ),
            operation=str(operation),  # a member of the problem: English, like its code
        )
    if not code:
        status = await mfa.status(svc, who)
        if not status.enrolled:
            raise mfa.enrolment_required()
        raise Failure(
            ProblemCode.VERIFICATION_REQUIRED,
            Text(
                "This account requires verification for {operation}: send your authenticator's"
                " current code (or a recovery code) as `verification_code`.",
                operation=operation,
            ),
            operation=str(operation),
        )
    # Per person: one person's guesses (or a stolen token's) never hold their colleagues up.
    # Counted at the time the code and its lock are judged at.
    await within_limit(
        svc.pool,
        f"verification:{who.ref}",
        svc.settings.rate_limit_verification,
        Text("Too many verification attempts by you"),
        mfa.now(),
    )
    return await mfa.verify(svc, who, code)


async def give_back(svc: Services, spent: Spent | None) -> None:
    """Return what a verification spent: the operation it was for did not happen."""
    await mfa.give_back(svc, spent)
