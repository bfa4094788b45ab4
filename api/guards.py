"""Checks some routes add on top of authorization: rate limits and verification codes."""

from __future__ import annotations

from datetime import UTC, datetime
from math import ceil

from psycopg_pool import AsyncConnectionPool

from api.deps import Principal
from api.problems import Problem
from assocflow.settings import Settings, parse_rate
from store import ratelimit, verification


async def within_rate(pool: AsyncConnectionPool, who: Principal, what: str, rate: str) -> None:
    """429 `rate_limited` with Retry-After once the caller's account exceeds `rate` for `what`."""
    limit, window = parse_rate(rate)
    account = who.account
    async with pool.connection() as conn:
        wait = await ratelimit.hit(
            conn, f"{what}:{account.kind}:{account.id}", limit, window, datetime.now(UTC)
        )
    if wait is not None:
        seconds = max(1, ceil(wait.total_seconds()))
        raise Problem(
            429,
            "rate_limited",
            f"Too many {what} requests for this account; try again in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


_STATUS_OF = {
    "verification_code_incorrect": 422,
    "verification_code_expired": 422,
    "verification_locked": 429,
}


async def verified(
    pool: AsyncConnectionPool,
    settings: Settings,
    who: Principal,
    purpose: str,
    code: str | None,
    *,
    required: bool | None = None,
) -> None:
    """Consume a verification code when the caller's account requires one (or `required`)."""
    if not (who.verification_required if required is None else required):
        return
    if not code:
        raise Problem(
            403,
            "verification_required",
            f"This account requires a verification code: POST /v1/verification-codes with"
            f' {{"purpose": "{purpose}"}}, then send it as `verification_code`.',
            purpose=purpose,
        )
    await within_rate(pool, who, "verification", settings.rate_limit_verification)
    async with pool.connection() as conn:
        try:
            await verification.verify(conn, who.account, purpose, code, datetime.now(UTC))
        except verification.VerificationFailed as failed:
            headers = None
            if failed.retry_after is not None:
                headers = {"Retry-After": str(max(1, ceil(failed.retry_after.total_seconds())))}
            raise Problem(
                _STATUS_OF[failed.code], failed.code, str(failed), headers=headers
            ) from failed
