"""Dependencies shared by every router: settings, the database, Temporal, and who is calling.

Authorization is deny-by-default: a route names the kind of caller it serves (`Partner|Customer`
for the product API, `Operator` for /v1/admin) and, for partner users, the permission it needs.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Literal
from uuid import UUID

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

PrincipalKind = Literal["operator", "partner_user", "customer"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject_id: str
    partner_id: UUID | None = None
    partner_type: str | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    customer_id: UUID | None = None
    # Partners whose data this caller may read: its own and, for a distributor or PSP, the
    # resellers under it.
    readable_partner_ids: tuple[UUID, ...] = ()

    @property
    def side(self) -> Side | None:
        return {"partner_user": Side.PARTNER, "customer": Side.CUSTOMER}.get(self.kind)

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.kind, id=self.subject_id, side=self.side)

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

    def require(self, permission: Permission) -> None:
        if self.kind == "partner_user" and permission.value not in self.permissions:
            raise forbidden(f"This action needs the `{permission.value}` permission.")


def settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def pool_dep(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


def temporal_dep(request: Request) -> Client:
    return request.app.state.temporal


def standing_dep(request: Request) -> accounts.AccountStandingSource:
    return request.app.state.standing


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


async def principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[Settings, Depends(settings_dep)],
    pool: Annotated[AsyncConnectionPool, Depends(pool_dep)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("Send a token: `Authorization: Bearer <token>`.")
    token = credentials.credentials
    bootstrap = settings.operator_token
    if bootstrap is not None and hmac.compare_digest(
        tokens.token_hash(token), tokens.token_hash(bootstrap.get_secret_value())
    ):
        return Principal(kind="operator", subject_id="bootstrap")
    async with pool.connection() as conn:
        row = await tokens.find_valid(conn, token)
        if row is None:
            raise _unauthorized("The token is unknown, expired or revoked.")
        return await _load_principal(conn, row["subject_kind"], row["subject_id"])


async def _load_principal(conn: AsyncConnection, kind: PrincipalKind, subject_id: str) -> Principal:
    if kind == "operator":
        return Principal(kind="operator", subject_id=subject_id)
    if kind == "customer":
        customer = await accounts.get_customer(conn, UUID(subject_id))
        if customer is None:
            raise _unauthorized("The token's customer no longer exists.")
        return Principal(kind="customer", subject_id=subject_id, customer_id=customer["id"])
    user = await accounts.get_partner_user(conn, UUID(subject_id))
    if user is None:
        raise _unauthorized("The token's user no longer exists.")
    granted = set(user["permissions"])
    if ADMIN_ROLE in granted:
        granted |= {p.value for p in Permission}
    children = (
        await accounts.child_partner_ids(conn, user["partner_id"])
        if user["partner_type"] in ("distributor", "psp")
        else []
    )
    return Principal(
        kind="partner_user",
        subject_id=subject_id,
        partner_id=user["partner_id"],
        partner_type=user["partner_type"],
        permissions=frozenset(granted),
        readable_partner_ids=(user["partner_id"], *children),
    )


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
