"""Demo data for `make run`: a small partner network with every case worth trying.

Idempotent: fixed ids and ON CONFLICT DO NOTHING, so a second run changes nothing. Tokens are
stored hashed like any other; their plaintext is kept in .data/demo-tokens.json (mode 0600) so
that `make run` can print them again, and re-issued if they no longer work. The demo people's
console passwords likewise: made up on the first run, kept in .data/demo-passwords.json (mode
0600), and set again if they no longer work.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from psycopg.types.json import Jsonb

from domain.types import AccountStanding, Association
from store import accounts, tokens
from store.db import fetch_one, fetch_value


def _id(n: int) -> UUID:
    return UUID(f"00000000-0000-4000-8000-{n:012d}")


NORTHWIND, CONTOSO, WINGTIP = _id(101), _id(102), _id(103)
CONTOSO_ADMIN, CONTOSO_READER, CONTOSO_SUBMITTER, CONTOSO_PROCESSOR, NORTHWIND_ADMIN = (
    _id(201),
    _id(202),
    _id(203),
    _id(204),
    _id(205),
)
FABRIKAM, TAILSPIN, LITWARE, ADVENTURE, PROSEWARE = _id(301), _id(302), _id(303), _id(304), _id(305)
A_FABRIKAM, A_TAILSPIN, A_LITWARE, A_ADVENTURE, A_PROSEWARE = (
    _id(401),
    _id(402),
    _id(403),
    _id(404),
    _id(405),
)
FABRIKAM_IT, TAILSPIN_IT, LITWARE_IT = _id(501), _id(502), _id(503)

PARTNERS = [
    (NORTHWIND, "Northwind Distribution", "distributor", None, False),
    (CONTOSO, "Contoso Cloud Services", "reseller", NORTHWIND, False),
    (WINGTIP, "Wingtip Resellers (frozen)", "reseller", NORTHWIND, True),
]
USERS = [
    (CONTOSO_ADMIN, CONTOSO, "Contoso admin", "admin@contoso.example", ["admin"]),
    (CONTOSO_READER, CONTOSO, "Contoso reader", "reader@contoso.example", ["associations:read"]),
    (
        CONTOSO_SUBMITTER,
        CONTOSO,
        "Contoso submitter",
        "submitter@contoso.example",
        ["associations:read", "disassociations:submit"],
    ),
    (
        CONTOSO_PROCESSOR,
        CONTOSO,
        "Contoso processor",
        "processor@contoso.example",
        [
            "associations:read",
            "disassociations:process",
            "type_changes:submit",
            "type_changes:process",
            "partner_changes:process",
        ],
    ),
    (NORTHWIND_ADMIN, NORTHWIND, "Northwind admin", "admin@northwind.example", ["admin"]),
]
CUSTOMER_USERS = [
    (FABRIKAM_IT, FABRIKAM, "Fabrikam IT", "it@fabrikam.example"),
    (TAILSPIN_IT, TAILSPIN, "Tailspin Toys IT", "it@tailspin.example"),
    (LITWARE_IT, LITWARE, "Litware IT", "it@litware.example"),
]
CUSTOMERS = [
    (FABRIKAM, "Fabrikam", None),
    (TAILSPIN, "Tailspin Toys", None),
    (
        LITWARE,
        "Litware (failing standing)",
        AccountStanding(
            arrears="120.50",
            orders_awaiting_partner_payment=2,
            active_reserved_instances=1,
            active_support_plan=True,
            currency_set=False,
        ),
    ),
    (ADVENTURE, "Adventure Works", None),
    (PROSEWARE, "Proseware", None),
]
ASSOCIATIONS = [
    (A_FABRIKAM, CONTOSO, FABRIKAM, "resale"),
    (A_TAILSPIN, CONTOSO, TAILSPIN, "referral"),
    (A_LITWARE, CONTOSO, LITWARE, "advance_payment"),
    (A_ADVENTURE, NORTHWIND, ADVENTURE, "resale"),
    (A_PROSEWARE, WINGTIP, PROSEWARE, "referral"),
]


@dataclass(frozen=True)
class DemoToken:
    env_name: str
    subject_kind: str
    subject_id: str
    who: str


DEMO_TOKENS = [
    DemoToken("OPERATOR_TOKEN", "operator", "demo-operator", "operator"),
    DemoToken("CONTOSO_ADMIN_TOKEN", "partner_user", str(CONTOSO_ADMIN), "Contoso admin (all)"),
    DemoToken(
        "CONTOSO_READER_TOKEN", "partner_user", str(CONTOSO_READER), "Contoso reader (read only)"
    ),
    DemoToken(
        "CONTOSO_SUBMITTER_TOKEN", "partner_user", str(CONTOSO_SUBMITTER), "Contoso submitter"
    ),
    DemoToken(
        "CONTOSO_PROCESSOR_TOKEN", "partner_user", str(CONTOSO_PROCESSOR), "Contoso processor"
    ),
    DemoToken(
        "NORTHWIND_ADMIN_TOKEN", "partner_user", str(NORTHWIND_ADMIN), "Northwind (distributor)"
    ),
    DemoToken("FABRIKAM_TOKEN", "customer_user", str(FABRIKAM_IT), "customer Fabrikam"),
    DemoToken("TAILSPIN_TOKEN", "customer_user", str(TAILSPIN_IT), "customer Tailspin Toys"),
    DemoToken(
        "LITWARE_TOKEN", "customer_user", str(LITWARE_IT), "customer Litware (failing standing)"
    ),
]


PEOPLE = ("partner_user", "customer_user")
EMAILS = {user[0]: user[3] for user in USERS} | {user[0]: user[3] for user in CUSTOMER_USERS}
# As application/sessions.py hashes passwords (it would make any other hash again).
_HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


@dataclass(frozen=True)
class DemoSignIn:
    """A demo person's console sign-in, named like their token without `_TOKEN`."""

    name: str
    email: str
    password: str
    who: str


async def seed(database_url: str, tokens_file: Path) -> dict[str, str]:
    """Insert the demo data if missing; return env name -> token for every demo token."""
    saved = _load_secrets(tokens_file)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        async with conn.transaction():
            await _insert_accounts(conn)
            await _insert_associations(conn)
        demo = await _demo_tokens(conn, saved)
    _save_secrets(tokens_file, demo)
    return demo


def _load_secrets(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def _save_secrets(path: Path, demo: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(demo, out, indent=2)


async def _insert_accounts(conn: psycopg.AsyncConnection) -> None:
    for partner_id, name, kind, parent, frozen in PARTNERS:
        await conn.execute(
            "INSERT INTO partners (id, name, type, parent_partner_id, frozen)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (partner_id, name, kind, parent, frozen),
        )
    for user_id, partner_id, name, email, permissions in USERS:
        await conn.execute(
            # The demo's permissions as this version defines them (a stack seeded by an earlier
            # version gains the new ones).
            "INSERT INTO partner_users (id, partner_id, name, permissions)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET permissions = excluded.permissions",
            (user_id, partner_id, name, permissions),
        )
        await _person(conn, user_id, "partner_user", email)
    for customer_id, name, standing in CUSTOMERS:
        cur = await conn.execute(
            "INSERT INTO customers (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"
            " RETURNING id",
            (customer_id, name),
        )
        if await cur.fetchone() and standing is not None:
            await accounts.put_standing(conn, customer_id, standing)
    for user_id, customer_id, name, email in CUSTOMER_USERS:
        await conn.execute(
            "INSERT INTO customer_users (id, customer_id, name) VALUES (%s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (user_id, customer_id, name),
        )
        await _person(conn, user_id, "customer_user", email)


async def _person(conn: psycopg.AsyncConnection, person_id: UUID, kind: str, email: str) -> None:
    """The person of a demo user, with its email (data from before people had emails gets one)."""
    await conn.execute(
        "INSERT INTO people (id, kind, email) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email WHERE people.email IS NULL",
        (person_id, kind, email),
    )


async def _insert_associations(conn: psycopg.AsyncConnection) -> None:
    for association_id, partner_id, customer_id, kind in ASSOCIATIONS:
        row = await fetch_one(
            conn,
            Association,
            "INSERT INTO associations (id, partner_id, customer_id, association_type)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *",
            (association_id, partner_id, customer_id, kind),
        )
        if row is not None:
            await conn.execute(
                "INSERT INTO association_records (effect_key, kind, action, association_id,"
                " partner_id, customer_id, status, actor, after, occurred_at)"
                " VALUES (%s, 'association', 'associated', %s, %s, %s, 'active',"
                " 'operator:demo-seed', %s, %s) ON CONFLICT DO NOTHING",
                (
                    f"association:{association_id}:associated",
                    association_id,
                    partner_id,
                    customer_id,
                    Jsonb({"association_type": kind}),
                    row.associated_at,
                ),
            )


async def _demo_tokens(conn: psycopg.AsyncConnection, saved: dict[str, str]) -> dict[str, str]:
    """The saved demo tokens that still work, and new ones for the rest."""
    result: dict[str, str] = {}
    for demo in DEMO_TOKENS:
        token = saved.get(demo.env_name)
        if token is None or await tokens.find_valid(conn, token) is None:
            _, token = await tokens.create(
                conn,
                subject_kind=demo.subject_kind,
                subject_id=demo.subject_id,
                created_by="operator:demo-seed",
                label=f"demo: {demo.who}",
            )
        result[demo.env_name] = token
    return result


async def sign_ins(database_url: str, passwords_file: Path) -> list[DemoSignIn]:
    """A console password for every demo person (no authenticator: they enrol if they like): the
    saved ones that still work, new ones for the rest."""
    saved = _load_secrets(passwords_file)
    found: list[DemoSignIn] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for demo in DEMO_TOKENS:
            if demo.subject_kind not in PEOPLE:
                continue
            name, person = demo.env_name.removesuffix("_TOKEN"), UUID(demo.subject_id)
            password = saved.get(name) or secrets.token_urlsafe(12)
            stored = await fetch_value(
                conn, str, "SELECT password_hash FROM people WHERE id = %s", (person,)
            )
            if stored is None or not await asyncio.to_thread(_matches, stored, password):
                await conn.execute(
                    "UPDATE people SET password_hash = %s, password_set_at = now() WHERE id = %s",
                    (await asyncio.to_thread(_HASHER.hash, password), person),
                )
            found.append(DemoSignIn(name, EMAILS[person], password, demo.who))
    _save_secrets(passwords_file, {s.name: s.password for s in found})
    return found


def _matches(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
