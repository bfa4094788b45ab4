"""Notifications: the outbox and the in-app message center.

A notification is written in the transaction of the state change it reports (with an
`effect_key`, so a retried transaction adds nothing); the message center reads the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from store import webhooks
from store.pagination import newest_first

Row = dict[str, Any]

COLUMNS = "id, event_type, summary, request_id, association_id, payload, created_at, read_at"


async def notify(
    conn: AsyncConnection,
    *,
    effect_key: str,
    recipient_kind: str,
    recipient_id: UUID,
    event_type: str,
    summary: str,
    data: Row,
    created_at: datetime,
    request_id: UUID | None = None,
    association_id: UUID | None = None,
) -> None:
    """Queue one notification (message center + webhooks) in the caller's transaction.

    The payload is the Standard Webhooks body: `type`, `timestamp`, `data`.
    """
    payload = {"type": event_type, "timestamp": created_at.isoformat(), "data": data}
    cur = await conn.execute(
        "INSERT INTO notifications (effect_key, recipient_kind, recipient_id, event_type, summary,"
        " request_id, association_id, payload, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (effect_key) DO NOTHING"
        " RETURNING id",
        (
            effect_key,
            recipient_kind,
            recipient_id,
            event_type,
            summary,
            request_id,
            association_id,
            Jsonb(payload),
            created_at,
        ),
    )
    inserted = await cur.fetchone()
    if inserted is not None:  # on a retried transaction, the deliveries exist already
        await webhooks.fan_out(conn, inserted["id"], recipient_kind, recipient_id, event_type)


async def list_for(
    conn: AsyncConnection,
    recipient_kind: str,
    recipient_id: UUID,
    *,
    unread: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row], str | None]:
    return await newest_first(
        conn,
        table="notifications",
        columns=COLUMNS,
        time_column="created_at",
        scope=None,
        equals={"recipient_kind": recipient_kind, "recipient_id": recipient_id},
        extra_where="read_at IS NULL"
        if unread
        else "read_at IS NOT NULL"
        if unread is False
        else None,
        limit=limit,
        cursor=cursor,
    )


async def mark_read(
    conn: AsyncConnection, recipient_kind: str, recipient_id: UUID, notification_id: UUID
) -> Row | None:
    """Mark one of the recipient's notifications read (again is fine); None if not theirs."""
    cur = await conn.execute(
        "UPDATE notifications SET read_at = coalesce(read_at, now())"
        " WHERE id = %s AND recipient_kind = %s AND recipient_id = %s"
        f" RETURNING {COLUMNS}",
        (notification_id, recipient_kind, recipient_id),
    )
    return await cur.fetchone()
