"""What the console's pages show at a glance: associations with their parties' names and any
pending request, one request with its parties' names and its reminders, and unread counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from store import requests
from store.db import Connection, fetch_all, fetch_one, fetch_values
from store.pagination import decode_cursor, split_page
from store.rows import AssociationOverview, NamedRequest
from store.scope import Scope

_OVERVIEW = (
    "SELECT a.id, a.partner_id, a.customer_id, a.association_type, a.status, a.associated_at,"
    " a.ended_at, p.name AS partner_name, c.name AS customer_name,"
    " pr.id AS pending_request_id, pr.kind AS pending_kind, pr.initiator AS pending_initiator,"
    " pr.respond_by AS pending_respond_by,"
    " coalesce(pr.partner_answered, false) AS pending_partner_answered"
    " FROM associations a"
    " JOIN partners p ON p.id = a.partner_id"
    " JOIN customers c ON c.id = a.customer_id"
    " LEFT JOIN LATERAL (SELECT r.id, r.kind, r.initiator, r.respond_by,"
    "   r.current_partner_decision IS NOT NULL AS partner_answered FROM requests r"
    "   WHERE r.association_id = a.id AND r.status = 'pending' LIMIT 1) pr ON true"
)


async def associations(
    conn: Connection,
    scope: Scope,
    *,
    search: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AssociationOverview], str | None]:
    """A page of the associations in `scope`, newest first, with names and any pending request;
    `search` is a customer's id, or matches the customer's name (any part, any case). Each is
    one index's read (associations_by_customer, customers_name_trigrams): an id or a name, never
    either, which no index serves."""
    query, params = associations_query(scope, search, status, limit, cursor)
    rows = await fetch_all(conn, AssociationOverview, query, params)
    return split_page(rows, limit, "associated_at")


def associations_query(
    scope: Scope, search: str | None, status: str | None, limit: int, cursor: str | None
) -> tuple[str, dict[str, Any]]:
    """The SQL of `associations` and its parameters."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = [scope.clause(params, alias="a")]
    if status is not None:
        params["status"] = status
        where.append("a.status = %(status)s")
    if search and (customer_id := _as_id(search)) is not None:
        params["search_id"] = customer_id
        where.append("a.customer_id = %(search_id)s")
    elif search:
        # The names first, by their trigrams, then those customers' associations: a test of each
        # row's name, as PostgreSQL would otherwise plan it for a page ordered by time, reads every
        # association of the partner when few names match.
        params["search"] = f"%{_like_escaped(search)}%"
        where.append(
            "a.customer_id = ANY(ARRAY(SELECT id FROM customers WHERE name ILIKE %(search)s))"
        )
    if cursor is not None:
        params["cursor_at"], params["cursor_id"] = decode_cursor(cursor)
        where.append("(a.associated_at, a.id) < (%(cursor_at)s, %(cursor_id)s)")
    order = " ORDER BY a.associated_at DESC, a.id DESC LIMIT %(limit)s"
    return f"{_OVERVIEW} WHERE {' AND '.join(where)}{order}", params


async def association(
    conn: Connection, association_id: UUID, scope: Scope
) -> AssociationOverview | None:
    params: dict[str, Any] = {"id": association_id}
    return await fetch_one(
        conn,
        AssociationOverview,
        f"{_OVERVIEW} WHERE a.id = %(id)s AND {scope.clause(params, alias='a')}",
        params,
    )


async def request(conn: Connection, request_id: UUID, scope: Scope) -> NamedRequest | None:
    """The request (of any kind, with every field: a partner change names its new partner, which
    reads it too) and its partner's and customer's names."""
    params: dict[str, Any] = {"id": request_id}
    scoped = scope.clause(params, partner_columns=requests.PARTNER_COLUMNS)
    return await fetch_one(
        conn,
        NamedRequest,
        "SELECT r.*, p.name AS partner, c.name AS customer"
        f" FROM (SELECT {requests.COLUMNS} FROM requests WHERE id = %(id)s AND {scoped}) r"
        " JOIN partners p ON p.id = r.partner_id JOIN customers c ON c.id = r.customer_id",
        params,
    )


# A request's page reads these by an index (notifications_reminders), whatever the number of
# notifications.
REMINDERS = (
    "SELECT DISTINCT created_at FROM notifications"
    " WHERE request_id = %s AND event_type LIKE '%%.reminder' ORDER BY created_at"
)


async def reminders(conn: Connection, request_id: UUID) -> list[datetime]:
    """When the counterpart of a request was reminded, oldest first."""
    return await fetch_values(conn, datetime, REMINDERS, (request_id,))


def _as_id(text: str) -> UUID | None:
    try:
        return UUID(text.strip())
    except ValueError:
        return None


def _like_escaped(text: str) -> str:
    return text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def names(
    conn: Connection, partner_ids: set[UUID], customer_ids: set[UUID]
) -> dict[UUID, str]:
    """The names of these partners and customers, by id."""
    rows = await fetch_all(
        conn,
        _Named,
        "SELECT id, name FROM partners WHERE id = ANY(%s)"
        " UNION ALL SELECT id, name FROM customers WHERE id = ANY(%s)",
        (list(partner_ids), list(customer_ids)),
    )
    return {row.id: row.name for row in rows}


@dataclass(frozen=True)
class _Named:
    id: UUID
    name: str
