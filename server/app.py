"""The composition root: one app serving the JSON API (`api/`) and the console (`console/`),
siblings over the use cases, with the pool, the Temporal gateway and the middleware they share.

uvicorn --factory server.app:create_app   (what `python -m server` runs)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

import console.app as console
from api import openapi, problems, webhook_events
from api.bodylimit import BodyLimitMiddleware
from api.idempotency import IdempotencyMiddleware
from api.observability import ObservabilityMiddleware, RouteSeen
from api.outages import ErrorBoundary
from api.ratelimits import RateLimitHeadersMiddleware
from api.routers import (
    account,
    admin,
    associations,
    disassociations,
    health,
    mfa,
    partner_changes,
    records,
    type_changes,
    webhooks,
)
from application.admission import InFlight
from application.housekeeping import run_forever as housekeeping_rounds
from application.live import Hub
from application.services import Services
from application.sessions import cookie_secure
from assocflow.settings import Settings
from assocflow.temporal import connect
from assocflow.temporal import runtime as temporal_runtime
from console import headers as security_headers
from store.accounts import AccountStandingSource, PostgresStanding
from store.db import migrate, open_pool
from store.presence import Presence
from workflows.gateway import Gateway

log = logging.getLogger(__name__)

# How long a starting API waits for its presence (store/presence.py) before serving anyway.
PRESENCE_AT_START = 5.0

DESCRIPTION = """
Durable approval of the end of a partner–customer association.

Authenticate with `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents
(`application/problem+json`) with a stable `code`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    pool: AsyncConnectionPool | None = None,
    temporal: Client | None = None,
    standing: AccountStandingSource | None = None,
) -> FastAPI:
    """Build the app. Tests pass their own pool and Temporal client; otherwise both are made from
    the settings when the app starts (and migrations are applied)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_pool = pool is None
        if owned_pool:
            await migrate(settings.database_url)
            app.state.pool = await open_pool(
                settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
            )
        else:
            app.state.pool = pool
        # Lazy: the API starts (and /readyz reports) even while Temporal is unreachable.
        app.state.temporal = temporal or await connect(
            settings, lazy=True, runtime=temporal_runtime()
        )
        app.state.standing = standing or PostgresStanding(app.state.pool)
        app.state.services = Services(
            pool=app.state.pool,
            temporal=Gateway(app.state.temporal, settings.task_queue),
            settings=settings,
            standing=app.state.standing,
            in_flight=InFlight(settings.max_in_flight, settings.answer_within),
        )
        app.state.live = Hub(settings.database_url)
        app.state.presence = Presence(settings.database_url)
        app.state.presence.start()
        # Not back by then: each claim waits for it a while, then falls back on its expiry.
        await app.state.presence.holder_within(PRESENCE_AT_START)
        housekeeping = asyncio.create_task(housekeeping_rounds(app.state.services))
        try:
            yield
        finally:
            housekeeping.cancel()
            await app.state.presence.close()
            await app.state.live.close()
            if owned_pool:
                await app.state.pool.close()

    app = FastAPI(
        title="assocflow",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    # Middleware runs in the reverse of the order it is added: the last added runs first.
    # Innermost: the route the router chose, for the request log and metrics.
    app.add_middleware(RouteSeen)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RateLimitHeadersMiddleware)
    # The console's CSRF check reads form bodies: inside the cap, the log and the boundary.
    console.protect(app, settings)
    # Around everything that reads PostgreSQL, inside what logs and counts the answer.
    app.add_middleware(ErrorBoundary, pages_prefix=console.PREFIX, page=console.unavailable_page)
    app.add_middleware(ObservabilityMiddleware)
    # Nothing reads more than the cap.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # First of all: every answer has its headers, the cap's and the outage page's included.
    app.add_middleware(
        security_headers.SecurityHeaders,
        console_prefix=console.PREFIX,
        https=cookie_secure(settings),
    )
    for module in (
        associations,
        disassociations,
        type_changes,
        partner_changes,
        records,
        account,
        mfa,
        webhooks,
        admin,
    ):
        app.include_router(module.router)
    for kind in (disassociations, type_changes, partner_changes):
        app.include_router(kind.admin_router)
    app.include_router(health.router)
    console.install(app, settings)
    webhook_events.install(app)
    openapi.install(app)
    return app
