"""Partners, partner users, customers and account standing (operator-maintained)."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.types import AccountStanding

Row = dict[str, Any]

PARTNER_COLUMNS = "id, name, type, parent_partner_id, frozen, verification_required, created_at"


async def create_partner(conn: AsyncConnection, fields: Row) -> Row:
    cur = await conn.execute(
        f"INSERT INTO partners (name, type, parent_partner_id, frozen)"
        f" VALUES (%(name)s, %(type)s, %(parent_partner_id)s, %(frozen)s)"
        f" RETURNING {PARTNER_COLUMNS}",
        fields,
    )
    return await cur.fetchone()


async def get_partner(conn: AsyncConnection, partner_id: UUID, *, lock: bool = False) -> Row | None:
    cur = await conn.execute(
        f"SELECT {PARTNER_COLUMNS} FROM partners WHERE id = %s{' FOR UPDATE' if lock else ''}",
        (partner_id,),
    )
    return await cur.fetchone()


async def update_partner(conn: AsyncConnection, partner_id: UUID, changes: Row) -> Row | None:
    allowed = {"name", "type", "parent_partner_id", "frozen", "verification_required"}
    sets = [f"{column} = %({column})s" for column in changes if column in allowed]
    if not sets:
        return await get_partner(conn, partner_id)
    cur = await conn.execute(
        f"UPDATE partners SET {', '.join(sets)}, updated_at = now() WHERE id = %(id)s"
        f" RETURNING {PARTNER_COLUMNS}",
        {**changes, "id": partner_id},
    )
    return await cur.fetchone()


async def child_partner_ids(conn: AsyncConnection, partner_id: UUID) -> list[UUID]:
    cur = await conn.execute(
        "SELECT id FROM partners WHERE parent_partner_id = %s ORDER BY id", (partner_id,)
    )
    return [row["id"] for row in await cur.fetchall()]


async def list_partners(conn: AsyncConnection) -> list[Row]:
    cur = await conn.execute(f"SELECT {PARTNER_COLUMNS} FROM partners ORDER BY created_at, id")
    return await cur.fetchall()


async def create_partner_user(
    conn: AsyncConnection, partner_id: UUID, name: str, permissions: list[str]
) -> Row:
    cur = await conn.execute(
        "INSERT INTO partner_users (partner_id, name, permissions) VALUES (%s, %s, %s)"
        " RETURNING id, partner_id, name, permissions, created_at",
        (partner_id, name, permissions),
    )
    return await cur.fetchone()


async def get_partner_user(conn: AsyncConnection, user_id: UUID) -> Row | None:
    cur = await conn.execute(
        "SELECT u.id, u.partner_id, u.name, u.permissions, p.type AS partner_type,"
        " p.verification_required"
        " FROM partner_users u JOIN partners p ON p.id = u.partner_id WHERE u.id = %s",
        (user_id,),
    )
    return await cur.fetchone()


async def create_customer(conn: AsyncConnection, name: str) -> Row:
    cur = await conn.execute(
        "INSERT INTO customers (name) VALUES (%s)"
        " RETURNING id, name, verification_required, created_at",
        (name,),
    )
    return await cur.fetchone()


async def get_customer(conn: AsyncConnection, customer_id: UUID) -> Row | None:
    cur = await conn.execute(
        "SELECT id, name, verification_required, created_at FROM customers WHERE id = %s",
        (customer_id,),
    )
    return await cur.fetchone()


async def put_standing(conn: AsyncConnection, customer_id: UUID, standing: AccountStanding) -> Row:
    fields = standing.model_dump()
    columns = list(fields)
    cur = await conn.execute(
        f"INSERT INTO account_standing (customer_id, {', '.join(columns)})"
        f" VALUES (%(customer_id)s, {', '.join(f'%({c})s' for c in columns)})"
        f" ON CONFLICT (customer_id) DO UPDATE SET"
        f" {', '.join(f'{c} = EXCLUDED.{c}' for c in columns)}, updated_at = now()"
        f" RETURNING customer_id, {', '.join(columns)}, updated_at",
        {**fields, "customer_id": customer_id},
    )
    return await cur.fetchone()


async def get_standing(conn: AsyncConnection, customer_id: UUID) -> AccountStanding:
    cur = await conn.execute(
        "SELECT * FROM account_standing WHERE customer_id = %s", (customer_id,)
    )
    row = await cur.fetchone()
    return AccountStanding() if row is None else AccountStanding.model_validate(row)


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
    conn: AsyncConnection, account_kind: str, account_id: UUID, value: bool
) -> None:
    table = "partners" if account_kind == "partner" else "customers"
    await conn.execute(
        f"UPDATE {table} SET verification_required = %s WHERE id = %s", (value, account_id)
    )


async def verification_required(conn: AsyncConnection, account_kind: str, account_id: UUID) -> bool:
    table = "partners" if account_kind == "partner" else "customers"
    cur = await conn.execute(
        f"SELECT verification_required FROM {table} WHERE id = %s", (account_id,)
    )
    row = await cur.fetchone()
    return bool(row and row["verification_required"])
