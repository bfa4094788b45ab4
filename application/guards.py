"""What some use cases add on top of authorization: rate limits and verification codes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from application.errors import Failure
from application.principal import Principal
from assocflow.settings import Settings, parse_rate
from store import ratelimit, verification


async def within_rate(pool: AsyncConnectionPool, who: Principal, what: str, rate: str) -> None:
    """`rate_limited` once the caller's account exceeds `rate` for `what`."""
    limit, window = parse_rate(rate)
    account = who.account
    async with pool.connection() as conn:
        wait = await ratelimit.hit(
            conn, f"{what}:{account.kind}:{account.id}", limit, window, datetime.now(UTC)
        )
    if wait is not None:
        failure = Failure("rate_limited", "", retry_after=wait)
        failure.detail = (
            f"Too many {what} requests for this account; try again in"
            f" {failure.retry_after_seconds} s."
        )
        raise failure


async def verified(
    pool: AsyncConnectionPool,
    settings: Settings,
    who: Principal,
    purpose: str,
    code: str | None,
    *,
    required: bool | None = None,
) -> UUID | None:
    """Consume a verification code when the caller's account requires one (or `required`);
    returns the code's id (None when none was needed), so that an operation that did not happen
    can give it back."""
    if not (who.verification_required if required is None else required):
        return None
    if not code:
        raise Failure(
            "verification_required",
            f"This account requires a verification code: POST /v1/verification-codes with"
            f' {{"purpose": "{purpose}"}}, then send it as `verification_code`.',
            purpose=purpose,
        )
    await within_rate(pool, who, "verification", settings.rate_limit_verification)
    async with pool.connection() as conn:
        try:
            return await verification.verify(conn, who.account, purpose, code, datetime.now(UTC))
        except verification.VerificationFailed as failed:
            raise Failure(failed.code, str(failed), retry_after=failed.retry_after) from failed


async def give_back(pool: AsyncConnectionPool, code_id: UUID | None) -> None:
    """Return a consumed verification code: what it was spent on did not happen."""
    if code_id is not None:
        async with pool.connection() as conn:
            await verification.give_back(conn, code_id)
