"""The association records ("Manage Association Records"): an append-only log.

A record is written only inside the transaction of the state change it describes, with an
`effect_key` that makes a retried transaction a no-op instead of a duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.types import Association
from store.db import Connection
from store.pagination import newest_first
from store.rows import Record
from store.scope import Scope

RECORD_COLUMNS = (
    "id, kind, action, association_id, partner_id, customer_id, request_id, status, actor,"
    " reason, before, after, occurred_at"
)


async def add_record(
    conn: Connection,
    *,
    effect_key: str,
    kind: str,
    action: str,
    association: Association,
    actor: str,
    occurred_at: datetime,
    request_id: UUID | None = None,
    status: str | None = None,
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO association_records (effect_key, kind, action, association_id, partner_id,"
        " customer_id, request_id, status, actor, reason, before, after, occurred_at)"
        " VALUES (%(effect_key)s, %(kind)s, %(action)s, %(association_id)s, %(partner_id)s,"
        " %(customer_id)s, %(request_id)s, %(status)s, %(actor)s, %(reason)s, %(before)s,"
        " %(after)s, %(occurred_at)s)"
        " ON CONFLICT (effect_key) DO NOTHING",
        {
            "effect_key": effect_key,
            "kind": kind,
            "action": action,
            "association_id": association.id,
            "partner_id": association.partner_id,
            "customer_id": association.customer_id,
            "request_id": request_id,
            "status": status,
            "actor": actor,
            "reason": reason,
            "before": None if before is None else Jsonb(before),
            "after": None if after is None else Jsonb(after),
            "occurred_at": occurred_at,
        },
    )


async def list_records(
    conn: Connection,
    scope: Scope,
    *,
    kind: str | None = None,
    customer_id: UUID | None = None,
    status: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[Record], str | None]:
    return await newest_first(
        conn,
        Record,
        table="association_records",
        columns=RECORD_COLUMNS,
        time_column="occurred_at",
        scope=scope,
        equals={"kind": kind, "customer_id": customer_id, "status": status},
        since=from_,
        until=to,
        limit=limit,
        cursor=cursor,
    )
