"""Notifications: the outbox and the in-app message center.

A notification is written in the transaction of the state change it reports (with an
`effect_key`, so a retried transaction adds nothing); the message center reads the same rows.

Its summary is written in its recipient account's language at the time it is written
(`partners.language`, `customers.language`), and stays so if the account's language changes
later; the webhook payload is the same for every language: codes and data, no words.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from assocflow import i18n
from store import webhooks
from store.db import Connection, fetch_one
from store.pagination import newest_first
from store.rows import Notification

COLUMNS = "id, event_type, summary, request_id, association_id, payload, created_at, read_at"


async def notify(
    conn: Connection,
    *,
    recipients: Sequence[tuple[str, UUID, str]],
    event_type: str,
    summary: str,
    data: dict[str, Any] | Sequence[dict[str, Any]],
    created_at: datetime,
    request_id: UUID | None = None,
    association_id: UUID | None = None,
) -> None:
    """Queue one event for each (recipient kind, recipient id, effect key) — the message center
    row, and a webhook delivery per enabled endpoint of the recipient — in one statement of the
    caller's transaction, which also wakes the webhook relay when that transaction commits if a
    delivery was queued. A retried transaction adds nothing: the effect keys are taken.

    `summary` (a Text) is rendered in every language, and each row takes its recipient
    account's, read in the same statement (English for a recipient with no account row).
    The payload is the Standard Webhooks body: `type`, `timestamp`, `data` — one `data` for
    every recipient, or one per recipient in their order (what each party may read of it).
    """
    if not recipients:
        return
    each = [data] * len(recipients) if isinstance(data, dict) else list(data)
    if len(each) != len(recipients):
        raise ValueError(
            f"{len(each)} data for {len(recipients)} recipients: one each, or one for all"
        )
    timestamp = created_at.isoformat()
    languages = [
        i18n.DEFAULT_LANGUAGE,
        *(lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT_LANGUAGE),
    ]
    await conn.execute(
        "WITH queued AS ("
        "  INSERT INTO notifications (effect_key, recipient_kind, recipient_id, event_type,"
        "  summary, request_id, association_id, payload, created_at)"
        "  SELECT r.effect_key, r.kind, r.id, %(event_type)s,"
        # The recipient's language's summary; the first (the default language's) if none.
        "  (%(summaries)s::text[])[coalesce("
        "   array_position(%(languages)s::text[], coalesce(p.language, c.language)), 1)],"
        "  %(request_id)s, %(association_id)s, r.payload, %(created_at)s"
        "  FROM unnest(%(keys)s::text[], %(kinds)s::text[], %(ids)s::uuid[], %(payloads)s::jsonb[])"
        "   AS r(effect_key, kind, id, payload)"
        "  LEFT JOIN partners p ON r.kind = 'partner' AND p.id = r.id"
        "  LEFT JOIN customers c ON r.kind = 'customer' AND c.id = r.id"
        "  ON CONFLICT (effect_key) DO NOTHING"
        "  RETURNING id, recipient_kind, recipient_id, event_type),"
        " delivered AS ("
        "  INSERT INTO webhook_deliveries (endpoint_id, notification_id)"
        "  SELECT e.id, q.id FROM queued q JOIN webhook_endpoints e"
        "   ON e.owner_kind = q.recipient_kind AND e.owner_id = q.recipient_id"
        "   AND e.enabled AND e.deleted_at IS NULL"
        "   AND (e.event_types IS NULL OR q.event_type = ANY(e.event_types))"
        "  ON CONFLICT DO NOTHING RETURNING 1)"
        # pg_notify, like NOTIFY, is sent when the transaction commits.
        " SELECT pg_notify(%(channel)s, '') FROM (SELECT FROM delivered LIMIT 1) AS any_delivery",
        {
            "keys": [key for _, _, key in recipients],
            "kinds": [kind for kind, _, _ in recipients],
            "ids": [recipient for _, recipient, _ in recipients],
            "event_type": event_type,
            "languages": languages,
            "summaries": [i18n.in_language(summary, language) for language in languages],
            "request_id": request_id,
            "association_id": association_id,
            "payloads": [
                Jsonb({"type": event_type, "timestamp": timestamp, "data": one}) for one in each
            ],
            "created_at": created_at,
            "channel": webhooks.CHANNEL,
        },
    )


async def list_for(
    conn: Connection,
    recipient_kind: str,
    recipient_id: UUID,
    *,
    unread: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Notification], str | None]:
    return await newest_first(
        conn,
        Notification,
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
    conn: Connection, recipient_kind: str, recipient_id: UUID, notification_id: UUID
) -> Notification | None:
    """Mark one of the recipient's notifications read (again is fine); None if not theirs."""
    return await fetch_one(
        conn,
        Notification,
        "UPDATE notifications SET read_at = coalesce(read_at, now())"
        " WHERE id = %s AND recipient_kind = %s AND recipient_id = %s"
        f" RETURNING {COLUMNS}",
        (notification_id, recipient_kind, recipient_id),
    )
