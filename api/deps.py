"""Dependencies shared by every router: settings, the database, Temporal, and who is calling.

Authorization is deny-by-default: a route names the kind of caller it serves (`Party` — a
partner user or a customer — for the product API, `Operator` for /v1/admin) and, for partner
users, the permission it needs. An id outside the caller's scope is 404; a visible object the
caller may not act on is 403.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from api.problems import Problem, forbidden
from application.principal import Principal as Principal  # the routers' name for it
from application.services import Services
from assocflow.settings import Settings
from domain.types import ADMIN_ROLE, Permission
from store import accounts, tokens


# Plain `def` dependencies would each be sent to a thread by FastAPI: these are all `async`.
# Each returns what api/main.py's lifespan put on `app.state` (whose attributes are untyped).
async def settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def pool_dep(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def temporal_dep(request: Request) -> Client:
    temporal: Client = request.app.state.temporal
    return temporal


async def standing_dep(request: Request) -> accounts.AccountStandingSource:
    standing: accounts.AccountStandingSource = request.app.state.standing
    return standing


async def services_dep(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def connection(
    pool: Annotated[AsyncConnectionPool, Depends(pool_dep)],
) -> AsyncIterator[AsyncConnection]:
    async with pool.connection() as conn:
        yield conn


_bearer = HTTPBearer(
    auto_error=False, description="An assocflow token: `Authorization: Bearer af_...`"
)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def identify(settings: Settings, conn: AsyncConnection, token: str) -> Principal | None:
    """Who a bearer token stands for, or None if it is unknown, expired or revoked."""
    bootstrap = settings.operator_token
    if bootstrap is not None and hmac.compare_digest(
        tokens.token_hash(token), tokens.token_hash(bootstrap.get_secret_value())
    ):
        return Principal(kind="operator", subject_id="bootstrap")
    row = await tokens.find_subject(conn, token)
    if row is None:
        return None
    kind, subject_id = row.subject_kind, row.subject_id
    if kind == "operator":
        return Principal(kind="operator", subject_id=subject_id)
    if kind == "customer":
        if row.customer_id is None:  # the customer no longer exists
            return None
        return Principal(
            kind="customer",
            subject_id=subject_id,
            customer_id=row.customer_id,
            verification_required=row.verification_required,
        )
    if row.partner_id is None or row.permissions is None:  # the user no longer exists
        return None
    granted = set(row.permissions)
    admin = ADMIN_ROLE in granted
    if admin:
        granted |= {p.value for p in Permission}
    return Principal(
        kind="partner_user",
        subject_id=subject_id,
        partner_id=row.partner_id,
        partner_type=row.partner_type,
        permissions=frozenset(granted),
        admin=admin,
        readable_partner_ids=(row.partner_id, *row.child_partner_ids),
        verification_required=row.verification_required,
    )


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[Settings, Depends(settings_dep)],
    pool: Annotated[AsyncConnectionPool, Depends(pool_dep)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("Send a token: `Authorization: Bearer <token>`.")
    # The idempotency middleware may have identified the caller already for this request.
    who = getattr(request.state, "principal", None)
    if who is None:
        async with pool.connection() as conn:
            who = await identify(settings, conn, credentials.credentials)
    if who is None:
        raise _unauthorized("The token is unknown, expired or revoked.")
    structlog.contextvars.bind_contextvars(caller=who.ref)
    if who.kind != "operator":
        structlog.contextvars.bind_contextvars(account=f"{who.account.kind}:{who.account.id}")
    return who


async def party(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """A partner user or a customer: the callers of the product API."""
    if who.kind == "operator":
        raise forbidden("Operators use the /v1/admin API and the Temporal UI.")
    return who


async def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind != "operator":
        raise forbidden("Only operators may use the /v1/admin API.")
    return who


# A connection held for the whole request: for routes that only read or write PostgreSQL. Routes
# that wait on Temporal take `Pool` and hold a connection only around their queries, so that
# waiting requests never starve the database.
Conn = Annotated[AsyncConnection, Depends(connection)]
Pool = Annotated[AsyncConnectionPool, Depends(pool_dep)]
Party = Annotated[Principal, Depends(party)]
Operator = Annotated[Principal, Depends(operator)]
AppSettings = Annotated[Settings, Depends(settings_dep)]
Temporal = Annotated[Client, Depends(temporal_dep)]
Standing = Annotated[accounts.AccountStandingSource, Depends(standing_dep)]
# What the use cases run on (application/services.py).
App = Annotated[Services, Depends(services_dep)]
