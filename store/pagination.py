"""Keyset pagination: newest first, with an opaque cursor naming the last row of a page."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from itertools import product
from typing import Any, Protocol, TypeVar
from uuid import UUID

from store.db import Connection, fetch_all
from store.scope import Scope

MAX_LIMIT = 100


class Keyed(Protocol):
    """A row a page can end on: the cursor names its id (and its time column's value)."""

    @property
    def id(self) -> UUID: ...


K = TypeVar("K", bound=Keyed)


class InvalidCursor(ValueError):
    pass


def encode_cursor(moment: datetime, row_id: UUID) -> str:
    raw = json.dumps([moment.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(moment), UUID(row_id)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc


def _keyset_clause(
    cursor: str | None, time_column: str, id_column: str, params: dict[str, Any]
) -> str | None:
    """The WHERE clause that starts a newest-first page after `cursor` (None for the first page)."""
    if cursor is None:
        return None
    params["cursor_at"], params["cursor_id"] = decode_cursor(cursor)
    return f"({time_column}, {id_column}) < (%(cursor_at)s, %(cursor_id)s)"


def split_page(rows: list[K], limit: int, time_column: str) -> tuple[list[K], str | None]:
    """Split a query result fetched with `limit + 1` rows into the page and the next cursor."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    moment: datetime = getattr(last, time_column.split(".")[-1])
    return rows[:limit], encode_cursor(moment, last.id)


async def newest_first(
    conn: Connection,
    row: type[K],
    *,
    table: str,
    columns: str,
    time_column: str,
    id_column: str = "id",
    scope: Scope | None,
    equals: dict[str, Any],
    since: datetime | None = None,
    until: datetime | None = None,
    extra_where: str | None = None,
    partner_columns: tuple[str, ...] = ("partner_id",),
    limit: int,
    cursor: str | None,
) -> tuple[list[K], str | None]:
    """One page of `table`'s rows in `scope` (None: all, for operators), newest first, as `row`s
    (made from `columns` by name), with the filters that are not None: `equals` column by column,
    and `since <= time_column < until`."""
    params: dict[str, Any] = {"limit": limit + 1}
    where: list[str] = []
    for column, value in equals.items():
        if value is not None:
            name = column.replace(".", "_")
            params[name] = value
            where.append(f"{column} = %({name})s")
    if since is not None:
        params["since"] = since
        where.append(f"{time_column} >= %(since)s")
    if until is not None:
        params["until"] = until
        where.append(f"{time_column} < %(until)s")
    if extra_where is not None:
        where.append(extra_where)
    if (after_cursor := _keyset_clause(cursor, time_column, id_column, params)) is not None:
        where.append(after_cursor)
    order = f" ORDER BY {time_column} DESC, {id_column} DESC LIMIT %(limit)s"
    if (
        scope is not None
        and scope.customer_id is None
        and (len(scope.partner_ids) > 1 or len(partner_columns) > 1)
    ):
        # `partner_id = ANY(...)`, or `partner_id = X OR new_partner_id = X`, would read every
        # matching row and sort them: take the newest rows of each partner in each column from
        # its own index instead, then merge those few.
        parts = []
        for n, (partner, column) in enumerate(product(scope.partner_ids, partner_columns)):
            params[f"scope_partner_{n}"] = partner
            clause = f"{column} = %(scope_partner_{n})s"
            parts.append(
                f"(SELECT {columns} FROM {table} WHERE {' AND '.join([clause, *where])}{order})"
            )
        each = " UNION ALL ".join(parts)
        if len(partner_columns) > 1:
            # A row may name two partners of the scope (a move between two resellers of one
            # distributor): once.
            each = f"SELECT DISTINCT ON (id) * FROM ({each}) named ORDER BY id"
        outer = f" ORDER BY {time_column.split('.')[-1]} DESC, id DESC LIMIT %(limit)s"
        rows = await fetch_all(conn, row, f"SELECT * FROM ({each}) merged{outer}", params)
    else:
        scoped = (
            ["true"] if scope is None else [scope.clause(params, partner_columns=partner_columns)]
        )
        rows = await fetch_all(
            conn,
            row,
            f"SELECT {columns} FROM {table} WHERE {' AND '.join([*scoped, *where])}{order}",
            params,
        )
    return split_page(rows, limit, time_column)
