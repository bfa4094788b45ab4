"""Dependencies shared by every router: settings, the database, Temporal, and who is calling.

Authorization is deny-by-default: a route names the kind of caller it serves (`Party` — a
partner user or a customer — for the product API, `Operator` for /v1/admin) and, for partner
users, the permission it needs. An id outside the caller's scope is 404; a visible object the
caller may not act on is 403.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Literal
from uuid import UUID

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from api.problems import Problem, forbidden
from assocflow.settings import Settings
from domain.types import ADMIN_ROLE, Actor, Permission, Side
from store import accounts, tokens
from store.scope import Scope
from store.verification import Account

PrincipalKind = Literal["operator", "partner_user", "customer"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject_id: str
    partner_id: UUID | None = None
    partner_type: str | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False  # a partner user holding the `admin` role
    customer_id: UUID | None = None
    # Partners whose data this caller may read: its own and, for a distributor or PSP, the
    # resellers under it.
    readable_partner_ids: tuple[UUID, ...] = ()
    verification_required: bool = False

    @property
    def ref(self) -> str:
        """The caller as records, audit entries and idempotency keys name it."""
        return f"{self.kind}:{self.subject_id}"

    @property
    def side(self) -> Side | None:
        return {"partner_user": Side.PARTNER, "customer": Side.CUSTOMER}.get(self.kind)

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.kind, id=self.subject_id, side=self.side)

    @property
    def account(self) -> Account:
        """The account the caller acts for: its partner, or the customer itself."""
        if self.kind == "customer":
            assert self.customer_id is not None
            return Account("customer", self.customer_id)
        assert self.partner_id is not None
        return Account("partner", self.partner_id)

    def read_scope(self) -> Scope:
        if self.kind == "customer":
            return Scope(customer_id=self.customer_id)
        return Scope(partner_ids=self.readable_partner_ids)

    def may_act_on(self, partner_id: UUID, customer_id: UUID) -> bool:
        """Submitting and deciding are for the association's own parties only (not a parent
        distributor)."""
        if self.kind == "customer":
            return self.customer_id == customer_id
        return self.kind == "partner_user" and self.partner_id == partner_id

    def require(self, *permissions: Permission) -> None:
        """403 unless a partner user holds one of `permissions` (customers act for their whole
        account and need none)."""
        if self.kind == "partner_user" and not any(
            p.value in self.permissions for p in permissions
        ):
            needed = " or ".join(f"`{p.value}`" for p in permissions)
            raise forbidden(f"This action needs the {needed} permission.")

    def require_admin(self) -> None:
        if self.kind == "partner_user" and not self.admin:
            raise forbidden("This action needs the partner's `admin` role.")


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
