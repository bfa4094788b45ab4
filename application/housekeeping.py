"""What the API process tidies while it runs: idempotency keys past their time, rate-limit
windows long closed, console sessions and unused invitations past their expiry, and password
throttles nobody has failed for a month."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from application.services import Services
from store import failure_runs, idempotency, ratelimit, sessions

log = logging.getLogger(__name__)

INTERVAL = 600.0
# A run of failed passwords is forgotten this long after its last failure: long enough that a
# patient guesser gains little (100 tries a month at most per email), and the table stays small
# however many emails are tried.
THROTTLES_KEPT = timedelta(days=30)


async def tidy(svc: Services) -> None:
    async with svc.pool.connection() as conn:
        await idempotency.purge(conn, svc.settings.idempotency_ttl)
        await ratelimit.purge(conn, datetime.now(UTC), keep=timedelta(hours=1))
        await sessions.purge(conn, datetime.now(UTC))
        await failure_runs.purge_throttles(conn, datetime.now(UTC) - THROTTLES_KEPT)


async def run_forever(svc: Services) -> None:
    """`tidy` every ten minutes until cancelled; a failed round is logged and the next tries
    again."""
    while True:
        try:
            await tidy(svc)
        except Exception:
            log.exception("housekeeping failed")
        await asyncio.sleep(INTERVAL)
