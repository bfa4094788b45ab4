"""Partners, partner users, customers and account standing (operator-maintained)."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from domain.types import AccountStanding
from store.db import Connection, fetch_all, fetch_one, fetch_value, fetch_values
from store.rows import Customer, CustomerStanding, Partner, PartnerUser, PartnerUserDetail

PARTNER_COLUMNS = "id, name, type, parent_partner_id, frozen, verification_required, created_at"


async def create_partner(conn: Connection, fields: dict[str, Any]) -> Partner:
    """A new partner from `fields`: its name, type, parent_partner_id and frozen."""
    row = await fetch_one(
        conn,
        Partner,
        f"INSERT INTO partners (name, type, parent_partner_id, frozen)"
        f" VALUES (%(name)s, %(type)s, %(parent_partner_id)s, %(frozen)s)"
        f" RETURNING {PARTNER_COLUMNS}",
        fields,
    )
    assert row is not None  # an INSERT ... RETURNING returns the row it inserted
    return row


async def get_partner(conn: Connection, partner_id: UUID, *, lock: bool = False) -> Partner | None:
    return await fetch_one(
        conn,
        Partner,
        f"SELECT {PARTNER_COLUMNS} FROM partners WHERE id = %s{' FOR UPDATE' if lock else ''}",
        (partner_id,),
    )


async def update_partner(
    conn: Connection, partner_id: UUID, changes: dict[str, Any]
) -> Partner | None:
    allowed = {"name", "type", "parent_partner_id", "frozen", "verification_required"}
    sets = [f"{column} = %({column})s" for column in changes if column in allowed]
    if not sets:
        return await get_partner(conn, partner_id)
    return await fetch_one(
        conn,
        Partner,
        f"UPDATE partners SET {', '.join(sets)}, updated_at = now() WHERE id = %(id)s"
        f" RETURNING {PARTNER_COLUMNS}",
        {**changes, "id": partner_id},
    )


async def child_partner_ids(conn: Connection, partner_id: UUID) -> list[UUID]:
    return await fetch_values(
        conn,
        UUID,
        "SELECT id FROM partners WHERE parent_partner_id = %s ORDER BY id",
        (partner_id,),
    )


async def list_partners(conn: Connection) -> list[Partner]:
    return await fetch_all(
        conn, Partner, f"SELECT {PARTNER_COLUMNS} FROM partners ORDER BY created_at, id"
    )


async def create_partner_user(
    conn: Connection, partner_id: UUID, name: str, permissions: list[str]
) -> PartnerUser:
    row = await fetch_one(
        conn,
        PartnerUser,
        "INSERT INTO partner_users (partner_id, name, permissions) VALUES (%s, %s, %s)"
        " RETURNING id, partner_id, name, permissions, created_at",
        (partner_id, name, permissions),
    )
    assert row is not None  # an INSERT ... RETURNING returns the row it inserted
    return row


async def get_partner_user(conn: Connection, user_id: UUID) -> PartnerUserDetail | None:
    return await fetch_one(
        conn,
        PartnerUserDetail,
        "SELECT u.id, u.partner_id, u.name, u.permissions, p.type AS partner_type,"
        " p.verification_required"
        " FROM partner_users u JOIN partners p ON p.id = u.partner_id WHERE u.id = %s",
        (user_id,),
    )


async def create_customer(conn: Connection, name: str) -> Customer:
    row = await fetch_one(
        conn,
        Customer,
        "INSERT INTO customers (name) VALUES (%s)"
        " RETURNING id, name, verification_required, created_at",
        (name,),
    )
    assert row is not None  # an INSERT ... RETURNING returns the row it inserted
    return row


async def get_customer(conn: Connection, customer_id: UUID) -> Customer | None:
    return await fetch_one(
        conn,
        Customer,
        "SELECT id, name, verification_required, created_at FROM customers WHERE id = %s",
        (customer_id,),
    )


async def put_standing(
    conn: Connection, customer_id: UUID, standing: AccountStanding
) -> CustomerStanding:
    fields = standing.model_dump()
    columns = list(fields)
    row = await fetch_one(
        conn,
        CustomerStanding,
        f"INSERT INTO account_standing (customer_id, {', '.join(columns)})"
        f" VALUES (%(customer_id)s, {', '.join(f'%({c})s' for c in columns)})"
        f" ON CONFLICT (customer_id) DO UPDATE SET"
        f" {', '.join(f'{c} = EXCLUDED.{c}' for c in columns)}, updated_at = now()"
        f" RETURNING customer_id, {', '.join(columns)}, updated_at",
        {**fields, "customer_id": customer_id},
    )
    assert row is not None  # the statement inserts or updates the row, and returns it
    return row


async def get_standing(conn: Connection, customer_id: UUID) -> AccountStanding:
    # AccountStanding ignores the columns that are not standing (customer_id, updated_at).
    row = await fetch_one(
        conn,
        AccountStanding,
        "SELECT * FROM account_standing WHERE customer_id = %s",
        (customer_id,),
    )
    return AccountStanding() if row is None else row


class AccountStandingSource(Protocol):
    """Where the account check's facts about a customer come from.

    PostgreSQL (operator-maintained) by default; a billing system can stand in by implementing
    this one method.
    """

    async def standing(self, customer_id: UUID) -> AccountStanding: ...


class PostgresStanding:
    def __init__(self, pool: AsyncConnectionPool):
        self._pool = pool

    async def standing(self, customer_id: UUID) -> AccountStanding:
        async with self._pool.connection() as conn:
            return await get_standing(conn, customer_id)


async def set_verification_required(
    conn: Connection, account_kind: str, account_id: UUID, value: bool
) -> None:
    table = "partners" if account_kind == "partner" else "customers"
    await conn.execute(
        f"UPDATE {table} SET verification_required = %s WHERE id = %s", (value, account_id)
    )


async def verification_required(conn: Connection, account_kind: str, account_id: UUID) -> bool:
    table = "partners" if account_kind == "partner" else "customers"
    required = await fetch_value(
        conn, bool, f"SELECT verification_required FROM {table} WHERE id = %s", (account_id,)
    )
    return bool(required)
