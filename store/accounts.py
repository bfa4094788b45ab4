"""Partners and customers, their people (partner users, customer users), their settings, and
account standing (operator-maintained)."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from domain.types import AccountStanding, PersonKind
from store.db import Connection, fetch_all, fetch_one, fetch_values
from store.rows import (
    AccountSettings,
    Customer,
    CustomerStanding,
    CustomerUser,
    Partner,
    PartnerUser,
    PartnerUserDetail,
    Person,
)

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


class EmailTaken(Exception):
    """Another person signs in with this email."""


async def create_partner_user(
    conn: Connection,
    partner_id: UUID,
    name: str,
    permissions: list[str],
    email: str | None = None,
) -> PartnerUser:
    """A partner's person: the user with its permissions, and the person (email) in one
    transaction. Raises EmailTaken."""
    async with conn.transaction():
        row = await fetch_one(
            conn,
            PartnerUser,
            "INSERT INTO partner_users (partner_id, name, permissions) VALUES (%s, %s, %s)"
            " RETURNING id, partner_id, name, permissions, created_at, %s::text AS email",
            (partner_id, name, permissions, email),
        )
        assert row is not None  # an INSERT ... RETURNING returns the row it inserted
        await _add_person(conn, row.id, "partner_user", email)
    return row


async def create_customer_user(
    conn: Connection, customer_id: UUID, name: str, email: str | None = None
) -> CustomerUser:
    """A customer's person, acting for the customer account. Raises EmailTaken."""
    async with conn.transaction():
        row = await fetch_one(
            conn,
            CustomerUser,
            "INSERT INTO customer_users (customer_id, name) VALUES (%s, %s)"
            " RETURNING id, customer_id, name, created_at, %s::text AS email",
            (customer_id, name, email),
        )
        assert row is not None  # an INSERT ... RETURNING returns the row it inserted
        await _add_person(conn, row.id, "customer_user", email)
    return row


async def _add_person(
    conn: Connection, person_id: UUID, kind: PersonKind, email: str | None
) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO people (id, kind, email) VALUES (%s, %s, %s)",
                (person_id, kind, email),
            )
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTaken(email or "") from exc


async def get_person(conn: Connection, person_id: UUID) -> Person | None:
    """A partner user or customer user, with the account it belongs to."""
    return await fetch_one(
        conn,
        Person,
        "SELECT p.id, p.kind, p.email, coalesce(u.name, cu.name) AS name,"
        " u.partner_id, cu.customer_id"
        " FROM people p LEFT JOIN partner_users u ON u.id = p.id"
        " LEFT JOIN customer_users cu ON cu.id = p.id WHERE p.id = %s",
        (person_id,),
    )


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


_ACCOUNT_TABLES = {"partner": "partners", "customer": "customers"}


async def account_settings(
    conn: Connection, account_kind: str, account_id: UUID, *, lock: bool = False
) -> AccountSettings:
    """An account's own settings; with `lock`, the row stays locked until the transaction ends."""
    row = await fetch_one(
        conn,
        AccountSettings,
        "SELECT verification_required, service_tokens_may_decide, language"
        f" FROM {_ACCOUNT_TABLES[account_kind]} WHERE id = %s{' FOR UPDATE' if lock else ''}",
        (account_id,),
    )
    if row is None:
        raise LookupError(f"no {account_kind} {account_id}")
    return row


async def set_account_settings(
    conn: Connection, account_kind: str, account_id: UUID, settings: AccountSettings
) -> None:
    await conn.execute(
        f"UPDATE {_ACCOUNT_TABLES[account_kind]} SET verification_required = %s,"
        " service_tokens_may_decide = %s, language = %s WHERE id = %s",
        (
            settings.verification_required,
            settings.service_tokens_may_decide,
            settings.language,
            account_id,
        ),
    )
