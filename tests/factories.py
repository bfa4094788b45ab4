"""Test data made through the store, each test with its own partners and customers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from assocflow.settings import Settings
from contract import SubmitCommand
from domain.types import AccountStanding, Actor, AssociationType, Policy, RequestKind, Side
from store import accounts, associations, notifications, tokens


@dataclass
class World:
    """A distributor with a reseller under it, the reseller's users, and one of its customers."""

    distributor_id: UUID
    partner_id: UUID
    customer_id: UUID
    association_id: UUID
    partner_admin: str
    partner_reader: str
    partner_submitter: str
    partner_processor: str
    distributor_admin: str
    customer: str  # the customer's service token
    customer_person: str  # a person of the customer (a customer user): settings, webhooks
    partner_admin_id: UUID
    customer_name: str
    partner_name: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Factory:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    async def token(self, subject_kind: str, subject_id: UUID | str, **kwargs: Any) -> str:
        async with self.pool.connection() as conn:
            _, token = await tokens.create(
                conn,
                subject_kind=subject_kind,
                subject_id=str(subject_id),
                created_by="operator:tests",
                **kwargs,
            )
        return token

    async def partner(
        self, kind: str = "reseller", parent: UUID | None = None, frozen: bool = False
    ) -> UUID:
        async with self.pool.connection() as conn:
            row = await accounts.create_partner(
                conn,
                {
                    "name": f"{kind} {uuid.uuid4().hex[:6]}",
                    "type": kind,
                    "parent_partner_id": parent,
                    "frozen": frozen,
                },
            )
        return row.id

    async def user(self, partner_id: UUID, permissions: list[str]) -> tuple[UUID, str]:
        """A person of the partner (with an email) and a token of theirs."""
        async with self.pool.connection() as conn:
            row = await accounts.create_partner_user(
                conn, partner_id, "user", permissions, f"{uuid.uuid4().hex[:12]}@partner.test"
            )
        return row.id, await self.token("partner_user", row.id)

    async def customer(self, standing: AccountStanding | None = None) -> tuple[UUID, str]:
        """A customer and its service token (the customer account acting as a whole)."""
        async with self.pool.connection() as conn:
            row = await accounts.create_customer(conn, f"customer {uuid.uuid4().hex[:6]}")
            if standing is not None:
                await accounts.put_standing(conn, row.id, standing)
        return row.id, await self.token("customer_service", row.id)

    async def customer_user(self, customer_id: UUID) -> tuple[UUID, str]:
        """A person of the customer and a token of theirs."""
        async with self.pool.connection() as conn:
            row = await accounts.create_customer_user(
                conn, customer_id, "person", f"{uuid.uuid4().hex[:12]}@customer.test"
            )
        return row.id, await self.token("customer_user", row.id)

    async def association(self, partner_id: UUID, customer_id: UUID, kind: str = "resale") -> UUID:
        async with self.pool.connection() as conn:
            row = await associations.create(conn, partner_id, customer_id, kind, "operator:tests")
        return row.id

    async def world(
        self,
        *,
        standing: AccountStanding | None = None,
        partner_frozen: bool = False,
        distributor_frozen: bool = False,
        association_type: str = "resale",
    ) -> World:
        distributor = await self.partner("distributor", frozen=distributor_frozen)
        partner = await self.partner("reseller", parent=distributor, frozen=partner_frozen)
        admin_id, admin = await self.user(partner, ["admin"])
        _, reader = await self.user(partner, ["associations:read"])
        _, submitter = await self.user(partner, ["associations:read", "disassociations:submit"])
        _, processor = await self.user(partner, ["associations:read", "disassociations:process"])
        _, distributor_admin = await self.user(distributor, ["admin"])
        customer_id, customer = await self.customer(standing)
        _, customer_person = await self.customer_user(customer_id)
        association = await self.association(partner, customer_id, association_type)
        [names] = await self.fetch(
            "SELECT (SELECT name FROM partners WHERE id = %s) AS p,"
            " (SELECT name FROM customers WHERE id = %s) AS c",
            partner,
            customer_id,
        )
        return World(
            distributor_id=distributor,
            partner_id=partner,
            customer_id=customer_id,
            association_id=association,
            partner_admin=admin,
            partner_reader=reader,
            partner_submitter=submitter,
            partner_processor=processor,
            distributor_admin=distributor_admin,
            customer=customer,
            customer_person=customer_person,
            partner_admin_id=admin_id,
            customer_name=names["c"],
            partner_name=names["p"],
        )

    async def notify(self, kind: str, account_id: UUID, summary: str) -> None:
        """A notification to the account (`kind` "partner" or "customer"), written and committed
        as a request's would be: its message center row, and the announcement live pages hear."""
        async with self.pool.connection() as conn:
            await notifications.notify(
                conn,
                recipients=[(kind, account_id, f"test:{uuid.uuid4()}")],
                event_type="disassociation.requested",
                summary=summary,
                data={},
                created_at=datetime.now(UTC),
            )

    async def fetch(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Raw SQL for what a test checks in the database, each row a dict."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def count(self, query: str, *params: Any) -> int:
        rows = await self.fetch(query, *params)
        return next(iter(rows[0].values()))


def command(
    world: World,
    initiator: Side = Side.CUSTOMER,
    policy: Policy | None = None,
    *,
    kind: RequestKind = RequestKind.DISASSOCIATION,
    new_type: AssociationType | None = None,
    association_type: AssociationType = AssociationType.RESALE,
    new_partner_id: UUID | None = None,
    new_partner_name: str | None = None,
    **settings: Any,
) -> SubmitCommand:
    """A submit as the API would build it, by the customer or the partner admin of `world` (a
    type change: to `new_type`, referral unless said; a partner change: to `new_partner_id`)."""
    if kind is RequestKind.TYPE_CHANGE and new_type is None:
        new_type = AssociationType.REFERRAL
    actor = (
        Actor(kind="customer", id=str(world.customer_id), side=Side.CUSTOMER)
        if initiator is Side.CUSTOMER
        else Actor(kind="partner_user", id=str(world.partner_admin_id), side=Side.PARTNER)
    )
    return SubmitCommand(
        request_id=uuid.uuid4(),
        association_id=world.association_id,
        partner_id=world.partner_id,
        customer_id=world.customer_id,
        partner_name=world.partner_name,
        customer_name=world.customer_name,
        association_type=association_type,  # the world's association type, as stored
        initiator=initiator,
        requested_by=actor,
        reason="moving on",
        policy=policy or Settings(**settings).policy(),
        kind=kind,
        new_type=new_type,
        new_partner_id=new_partner_id,
        new_partner_name=new_partner_name,
    )
