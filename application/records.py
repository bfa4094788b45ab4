"""Association records: who associated, changed or ended what, when and why; and the same list as
a spreadsheet (CSV), for the teams that reconcile associations outside assocflow."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import TypeAdapter

from application.errors import paged
from application.principal import Principal
from application.services import Services
from domain.types import Permission
from store import records
from store.rows import Record

RecordKind = Literal["association", "type_change", "disassociation", "partner_change"]


@paged
async def list_records(
    svc: Services,
    who: Principal,
    *,
    kind: RecordKind | None,
    customer_id: UUID | None,
    status: str | None,
    from_: datetime | None,
    to: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Record], str | None]:
    """The records of the associations the caller may read, newest first, filtered by kind,
    customer, status and a time range (`from_` and `to`, as the SPEC's `from` and `to`)."""
    who.require(Permission.ASSOCIATIONS_READ)
    async with svc.pool.connection() as conn:
        return await records.list_records(
            conn,
            who.party_scope(),
            kind=kind,
            customer_id=customer_id,
            status=status,
            from_=from_,
            to=to,
            limit=limit,
            cursor=cursor,
        )


# --- the spreadsheet -------------------------------------------------------------------------

# How many records an export reads at a time: one keyset page of `list_records`. An export holds
# one batch in memory however many records match, and a pooled connection only while a batch is
# read, never while a slow client downloads.
EXPORT_BATCH = 1000
CSV_MEDIA_TYPE = "text/csv"
# The columns: a record's fields as the JSON answer names them, in its order.
COLUMNS = tuple(Record.model_fields)
# A cell a spreadsheet would take for a formula (OWASP, "CSV Injection"): it gets a leading `'`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_AS_JSON = TypeAdapter(list[Record])

Batch = tuple[list[Record], str | None]


@dataclass(frozen=True)
class Export:
    """A CSV document on its way out: its chunks (UTF-8 bytes, the header row first) and the
    name a download is saved under."""

    chunks: AsyncIterator[bytes]
    filename: str

    @property
    def disposition(self) -> str:
        return f'attachment; filename="{self.filename}"'


async def export_records(
    svc: Services,
    who: Principal,
    *,
    kind: RecordKind | None,
    customer_id: UUID | None,
    status: str | None,
    from_: datetime | None,
    to: datetime | None,
    cursor: str | None = None,
) -> Export:
    """Every record `list_records` would page through with these filters, for this caller, in
    the same order, as CSV (`to_csv`): read in keyset batches of EXPORT_BATCH, each batch a call
    of `list_records` itself, so that the spreadsheet and the JSON pages cannot disagree on
    rows, order or scope. `cursor` starts after a JSON page, as it does for the next page.

    The first batch is read before this returns: a refusal (a permission, a cursor this API
    never issued) or PostgreSQL being unavailable is answered as such, not as a cut download."""

    async def batch(after: str | None) -> Batch:
        return await list_records(
            svc, who, kind=kind, customer_id=customer_id, status=status, from_=from_, to=to,
            limit=EXPORT_BATCH, cursor=after,
        )  # fmt: skip

    first = await batch(cursor)
    today = datetime.now(UTC).date().isoformat()
    return Export(_csv_chunks(first, batch), f"association-records-{today}.csv")


async def _csv_chunks(
    first: Batch, batch: Callable[[str | None], Awaitable[Batch]]
) -> AsyncIterator[bytes]:
    """The header row, then one chunk per batch, each batch read once the one before is sent."""
    yield _lines([COLUMNS])
    rows, after = first
    while True:
        yield _lines(_cells(rows))
        if after is None:
            return
        rows, after = await batch(after)


def to_csv(rows: list[Record]) -> str:
    """Records as a whole CSV document (the header row, then a line per record)."""
    return _lines([COLUMNS, *_cells(rows)]).decode()


def _lines(rows: Iterable[Iterable[str]]) -> bytes:
    """RFC 4180 lines: comma-separated, CRLF-ended, a cell quoted when it holds a comma, a quote
    or a line break (its quotes doubled) — the `csv` module's default dialect."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def _cells(rows: list[Record]) -> list[list[str]]:
    """Each record as the JSON answer gives it (ids and times as the same strings), one cell per
    field, COLUMNS' order. Flattened so that a column is always one field: null is an empty
    cell; an object or a list (`before`, `after`) is one cell holding it as compact JSON, keys
    sorted — their keys depend on the kind of record, and a streamed header cannot wait for the
    last row to learn them."""
    return [
        [_cell(row[column]) for column in COLUMNS]
        for row in _AS_JSON.dump_python(rows, mode="json")
    ]


def _cell(value: Any) -> str:
    if isinstance(value, str):  # most cells: tested first
        text = value
    elif value is None:
        return ""
    elif isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
