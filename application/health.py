"""Whether this process can serve: PostgreSQL and Temporal both answer."""

from __future__ import annotations

import asyncio

from application.services import Services
from store.db import ping

CHECK_TIMEOUT = 3.0


async def readiness(svc: Services) -> dict[str, str]:
    """Each dependency: "ok", or why it is not (the exception's kind, never its details)."""
    probes = {
        "postgres": ping(svc.pool, wait=CHECK_TIMEOUT),
        "temporal": svc.temporal.ping(),
    }
    results: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await probe
            results[name] = "ok"
        except Exception as err:  # any failure means not ready; the kind of it is reported
            results[name] = f"unavailable: {type(err).__name__}"
    return results
