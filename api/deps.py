"""Dependencies shared by every router: settings, the database, Temporal, and who is calling.

Authorization is deny-by-default: a route names the kind of caller it serves (`Party` — a
partner user or a customer — for the product API, `Operator` for /v1/admin) and, for partner
users, the permission it needs. An id outside the caller's scope is 404; a visible object the
caller may not act on is 403.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from api.problems import Problem, forbidden
from application.identity import identify
from application.principal import Principal as Principal  # the routers' name for it
from application.services import Services
from assocflow.settings import Settings
from domain.problems import ProblemCode
from domain.text import Text


# Plain `def` dependencies would each be sent to a thread by FastAPI: these are all `async`.
# Each returns what server/app.py's lifespan put on `app.state` (whose attributes are untyped).
async def settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def pool_dep(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def services_dep(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


_bearer = HTTPBearer(
    auto_error=False, description="An assocflow token: `Authorization: Bearer af_...`"
)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, ProblemCode.UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized(Text("Send a token: `Authorization: Bearer <token>`."))
    # The idempotency middleware may have identified the caller already for this request.
    who = getattr(request.state, "principal", None)
    if who is None:
        # Every API request comes here: the app's state is read directly, not through two more
        # dependencies for FastAPI to solve each time.
        async with (await pool_dep(request)).connection() as conn:
            who = await identify(await settings_dep(request), conn, credentials.credentials)
    if who is None:
        raise _unauthorized(Text("The token is unknown, expired or revoked."))
    structlog.contextvars.bind_contextvars(caller=who.ref)
    if who.kind != "operator":
        structlog.contextvars.bind_contextvars(account=f"{who.account.kind}:{who.account.id}")
    return who


async def party(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """A partner user or a customer: the callers of the product API."""
    if who.kind == "operator":
        raise forbidden(Text("Operators use the /v1/admin API and the Temporal UI."))
    return who


async def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind != "operator":
        raise forbidden(Text("Only operators may use the /v1/admin API."))
    return who


Party = Annotated[Principal, Depends(party)]
Operator = Annotated[Principal, Depends(operator)]
# What the use cases run on (application/services.py).
App = Annotated[Services, Depends(services_dep)]
