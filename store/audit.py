"""The audit log: who (an operator, or an account changing its own settings) created, froze or
changed what, with before and after."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from store.db import Connection
from store.pagination import newest_first
from store.rows import AuditEntry

COLUMNS = "id, actor, action, target_kind, target_id, before, after, occurred_at"


async def record(
    conn: Connection,
    actor: str,
    action: str,
    target_kind: str,
    target_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target_kind, target_id, before, after)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (
            actor,
            action,
            target_kind,
            str(target_id),
            None if before is None else Jsonb(before),
            None if after is None else Jsonb(after),
        ),
    )


async def list_actions(
    conn: Connection, *, limit: int, cursor: str | None
) -> tuple[list[AuditEntry], str | None]:
    return await newest_first(
        conn,
        AuditEntry,
        table="audit_log",
        columns=COLUMNS,
        time_column="occurred_at",
        scope=None,
        equals={},
        limit=limit,
        cursor=cursor,
    )
