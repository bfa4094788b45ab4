"""Secrets kept encrypted in a column of any table (webhook signing secrets, TOTP secrets): where
they are, and reading and writing them a batch at a time in the order of the table's primary key.

Table and column names come from code, never from a caller's input; they are quoted as
identifiers all the same."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql
from psycopg.rows import tuple_row

from store.db import Connection, fetch_value, fetch_values

Key = tuple[object, ...]  # a row's primary key values, in the key's column order


class NotSealedHere(LookupError):
    """The table exists but is not as expected: no such column, or no primary key to walk it by."""


async def primary_key(conn: Connection, table: str, column: str) -> tuple[str, ...] | None:
    """The primary key columns of `table`, in order; None if there is no such table (say, before
    the migration that makes it). Raises NotSealedHere if it has no `column` or no primary key."""
    exists = await fetch_value(conn, bool, "SELECT to_regclass(%s) IS NOT NULL", (table,))
    if not exists:
        return None
    has_column = await fetch_value(
        conn,
        bool,
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s)"
        " AND attname = %s AND attnum > 0 AND NOT attisdropped)",
        (table, column),
    )
    if not has_column:
        raise NotSealedHere(f"{table} has no column {column}")
    key = await fetch_values(
        conn,
        str,
        "SELECT a.attname::text FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
        " WHERE i.indrelid = to_regclass(%s) AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (table,),
    )
    if not key:
        raise NotSealedHere(f"{table} has no primary key")
    return tuple(key)


def _key(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


async def lock_batch(
    conn: Connection,
    table: str,
    key: Sequence[str],
    column: str,
    *,
    after: Key | None,
    limit: int,
) -> list[tuple[Key, bytes]]:
    """The next `limit` rows with a value in `column`, after the row whose primary key is `after`
    (from the first row if None), in key order, locked until the transaction ends: each as its
    key and that value."""
    where = sql.SQL("{column} IS NOT NULL").format(column=sql.Identifier(column))
    params: list[object] = []
    if after is not None:
        where = sql.SQL("{where} AND ({key}) > ({after})").format(
            where=where,
            key=_key(key),
            after=sql.SQL(", ").join(sql.Placeholder() for _ in key),
        )
        params.extend(after)
    query = sql.SQL(
        "SELECT {key}, {column} FROM {table} WHERE {where} ORDER BY {key} LIMIT %s FOR UPDATE"
    ).format(key=_key(key), column=sql.Identifier(column), table=sql.Identifier(table), where=where)
    params.append(limit)
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(query, params)
    rows = await cur.fetchall()
    return [(tuple(row[: len(key)]), bytes(row[len(key)])) for row in rows]


async def write(
    conn: Connection,
    table: str,
    key: Sequence[str],
    column: str,
    values: Sequence[tuple[Key, bytes]],
) -> None:
    """Set `column` of each row (by its primary key) to its new value."""
    if not values:
        return
    query = sql.SQL("UPDATE {table} SET {column} = %s WHERE {match}").format(
        table=sql.Identifier(table),
        column=sql.Identifier(column),
        match=sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in key),
    )
    async with conn.cursor() as cur:
        await cur.executemany(query, [(value, *row_key) for row_key, value in values])
