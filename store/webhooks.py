"""Webhook endpoints and their deliveries.

A delivery row is made for each enabled endpoint of the recipient in the transaction that writes
the notification (store/notifications.py), so an event can no more be lost for webhooks than for the message center. The
relay claims due deliveries with a lease (SKIP LOCKED), so several workers share the work and a
delivery whose worker died is taken up again when its lease runs out.

An endpoint that is deleted or disabled (a 410 disables it) gets nothing more: its pending
deliveries are cancelled, none of its deliveries is leased again, and an attempt that was in
flight leaves its delivery cancelled whatever its outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from domain.types import EventType
from store.db import Connection, fetch_all, fetch_one, fetch_value
from store.pagination import newest_first
from store.rows import DeliveryAttempt, DueDelivery, WebhookDelivery, WebhookEndpoint

CHANNEL = "assocflow_webhook_deliveries"
ENDPOINT_COLUMNS = (
    "id, owner_kind, owner_id, url, description, event_types, enabled, disabled_reason, created_at"
)
# The table of each kind of owner, whose row is locked while an endpoint is counted and added.
_OWNER_TABLES = {"partner": "partners", "customer": "customers"}


async def create_endpoint(
    conn: Connection,
    owner_kind: str,
    owner_id: UUID,
    url: str,
    description: str | None,
    event_types: list[EventType] | None,
    secret_encrypted: bytes,
    *,
    limit: int | None = None,
) -> WebhookEndpoint | None:
    """Add an endpoint unless the owner has `limit` live (not deleted) ones already: None then.
    The use case always passes its cap; None (no cap) is for tests and tools that set endpoints
    up directly."""
    async with conn.transaction():
        if limit is not None and await _live_endpoints(conn, owner_kind, owner_id) >= limit:
            return None
        return await fetch_one(
            conn,
            WebhookEndpoint,
            "INSERT INTO webhook_endpoints (owner_kind, owner_id, url, description, event_types,"
            f" secret_encrypted) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {ENDPOINT_COLUMNS}",
            (owner_kind, owner_id, url, description, event_types, secret_encrypted),
        )


async def _live_endpoints(conn: Connection, owner_kind: str, owner_id: UUID) -> int:
    """How many live (not deleted) endpoints the owner has, its row locked until the transaction
    ends: a second registration counts only once the first has committed (or rolled back), so
    two at once cannot both take the last place. FOR NO KEY UPDATE: rows that only refer to the
    owner are not held up."""
    await conn.execute(
        f"SELECT 1 FROM {_OWNER_TABLES[owner_kind]} WHERE id = %s FOR NO KEY UPDATE",
        (owner_id,),
    )
    live = await fetch_value(
        conn,
        int,
        "SELECT count(*) FROM webhook_endpoints WHERE owner_kind = %s AND owner_id = %s"
        " AND deleted_at IS NULL",
        (owner_kind, owner_id),
    )
    return live or 0


async def list_endpoints(
    conn: Connection, owner_kind: str, owner_id: UUID
) -> list[WebhookEndpoint]:
    return await fetch_all(
        conn,
        WebhookEndpoint,
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE owner_kind = %s AND owner_id = %s"
        " AND deleted_at IS NULL ORDER BY created_at, id",
        (owner_kind, owner_id),
    )


async def get_endpoint(
    conn: Connection, owner_kind: str, owner_id: UUID, endpoint_id: UUID
) -> WebhookEndpoint | None:
    return await fetch_one(
        conn,
        WebhookEndpoint,
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = %s AND owner_kind = %s"
        " AND owner_id = %s AND deleted_at IS NULL",
        (endpoint_id, owner_kind, owner_id),
    )


async def delete_endpoint(
    conn: Connection, owner_kind: str, owner_id: UUID, endpoint_id: UUID
) -> bool:
    """Remove the endpoint and cancel what it still had to receive."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE webhook_endpoints SET deleted_at = now(), enabled = false WHERE id = %s"
            " AND owner_kind = %s AND owner_id = %s AND deleted_at IS NULL RETURNING id",
            (endpoint_id, owner_kind, owner_id),
        )
        if await cur.fetchone() is None:
            return False
        await _cancel_pending(conn, endpoint_id)
    return True


async def claim_due(conn: Connection, batch: int, lease: timedelta) -> list[DueDelivery]:
    """Lease up to `batch` due deliveries of live endpoints to this relay and count the attempt.

    A due delivery of an endpoint that is deleted or disabled is cancelled instead (one a
    notification wrote as the endpoint was being deleted, say). The endpoint row is locked
    FOR SHARE with its delivery, so a deletion or a 410 still committing is not raced: its
    deliveries are skipped until it has committed, then cancelled.
    """
    async with conn.transaction():
        await conn.execute(
            "WITH gone AS ("
            "  SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e"
            "  ON e.id = d.endpoint_id AND NOT (e.enabled AND e.deleted_at IS NULL)"
            "  WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
            "  AND (d.lease_until IS NULL OR d.lease_until < now())"
            "  FOR UPDATE OF d SKIP LOCKED)"
            " UPDATE webhook_deliveries d SET status = 'cancelled', lease_until = NULL"
            " FROM gone WHERE d.id = gone.id"
        )
        return await fetch_all(
            conn,
            DueDelivery,
            "WITH due AS ("
            "  SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e"
            "  ON e.id = d.endpoint_id AND e.enabled AND e.deleted_at IS NULL"
            "  WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
            "  AND (d.lease_until IS NULL OR d.lease_until < now())"
            "  ORDER BY d.next_attempt_at LIMIT %s"
            "  FOR UPDATE OF d SKIP LOCKED FOR SHARE OF e SKIP LOCKED)"
            " UPDATE webhook_deliveries d SET lease_until = now() + %s, attempts = d.attempts + 1"
            " FROM due, webhook_endpoints e, notifications n"
            " WHERE d.id = due.id AND e.id = d.endpoint_id AND n.id = d.notification_id"
            " RETURNING d.id, d.attempts, d.endpoint_id, d.notification_id, e.url,"
            " e.secret_encrypted, n.payload",
            (batch, lease),
        )


async def seconds_until_next_due(conn: Connection) -> float | None:
    due_in = await fetch_value(
        conn,
        Decimal,
        "SELECT extract(epoch FROM min(next_attempt_at) - now()) AS due_in"
        " FROM webhook_deliveries WHERE status = 'pending'",
    )
    return None if due_in is None else float(due_in)


async def record_attempt(
    conn: Connection,
    delivery: DueDelivery,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    outcome: str,
    next_attempt_at: datetime | None = None,
) -> None:
    """Log one attempt and move the delivery on: 'delivered', 'pending' (again at
    `next_attempt_at`), 'failed' (out of attempts) or 'gone' (410: the endpoint is disabled).

    Only a delivery still pending moves on, and only while its endpoint is live: if the endpoint
    was deleted or disabled while the attempt was in flight, the delivery is (or stays)
    cancelled, whatever the attempt's outcome; the attempt is logged all the same.
    """
    async with conn.transaction():
        if outcome == "gone":
            # The endpoint first, as a deletion locks it before its deliveries: no deadlock.
            await conn.execute(
                "UPDATE webhook_endpoints SET enabled = false,"
                " disabled_reason = 'The endpoint answered 410 Gone.'"
                " WHERE id = %s AND deleted_at IS NULL",
                (delivery.endpoint_id,),
            )
        await conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms)"
            " VALUES (%s, %s, %s, %s, %s)",
            (delivery.id, delivery.attempts, status_code, error, duration_ms),
        )
        status = {"gone": "cancelled"}.get(outcome, outcome)
        await conn.execute(
            "UPDATE webhook_deliveries d SET lease_until = NULL, last_status = %(code)s,"
            " last_error = %(error)s,"
            " status = CASE WHEN d.status <> 'pending' THEN d.status"
            "   WHEN e.enabled AND e.deleted_at IS NULL THEN %(status)s ELSE 'cancelled' END,"
            " next_attempt_at = CASE WHEN d.status = 'pending' AND e.enabled"
            "   AND e.deleted_at IS NULL THEN coalesce(%(next)s, d.next_attempt_at)"
            "   ELSE d.next_attempt_at END,"
            " delivered_at = CASE WHEN d.status = 'pending' AND e.enabled"
            "   AND e.deleted_at IS NULL AND %(status)s = 'delivered' THEN now()"
            "   ELSE d.delivered_at END"
            " FROM webhook_endpoints e WHERE d.id = %(id)s AND e.id = d.endpoint_id",
            {
                "code": status_code,
                "error": error,
                "status": status,
                "next": next_attempt_at,
                "id": delivery.id,
            },
        )
        if outcome == "gone":
            await _cancel_pending(conn, delivery.endpoint_id)


async def _cancel_pending(conn: Connection, endpoint_id: UUID) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'cancelled', lease_until = NULL"
        " WHERE endpoint_id = %s AND status = 'pending'",
        (endpoint_id,),
    )


async def list_deliveries(
    conn: Connection, endpoint_id: UUID, *, limit: int, cursor: str | None
) -> tuple[list[WebhookDelivery], str | None]:
    """A page of the endpoint's deliveries, newest first, each with its attempts."""
    rows, next_cursor = await newest_first(
        conn,
        WebhookDelivery,
        table="webhook_deliveries d JOIN notifications n ON n.id = d.notification_id",
        columns="d.id, d.created_at, d.notification_id, n.event_type, d.status, d.attempts,"
        " d.last_status, d.last_error, d.next_attempt_at, d.delivered_at",
        time_column="d.created_at",
        id_column="d.id",
        scope=None,
        equals={"d.endpoint_id": endpoint_id},
        limit=limit,
        cursor=cursor,
    )
    if rows:
        attempts = await fetch_all(
            conn,
            DeliveryAttempt,
            "SELECT delivery_id, attempt, attempted_at, status_code, error, duration_ms"
            " FROM webhook_attempts WHERE delivery_id = ANY(%s) ORDER BY attempt",
            ([r.id for r in rows],),
        )
        by_delivery: dict[UUID, list[DeliveryAttempt]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
        for r in rows:
            r.attempt_log = by_delivery.get(r.id, [])
    return rows, next_cursor
