"""GET /v1/association-records: who did what, when and why — a page of JSON, or, asked for with
`Accept: text/csv`, every matching record as one CSV download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import App, Party
from api.pages import page_response
from api.problems import Problem
from api.schemas import Limit, Page, Record
from application import records
from application.records import CSV_MEDIA_TYPE, RecordKind
from domain.problems import ProblemCode
from domain.text import Text

router = APIRouter(prefix="/v1/association-records", tags=["records"])

JSON = "application/json"
# What the route answers, its default first: a client that prefers neither gets JSON.
OFFERS = (JSON, CSV_MEDIA_TYPE)
# Caches keep the JSON and the CSV answer apart.
VARY = {"Vary": "Accept"}


@router.get(
    "",
    response_model=Page[Record],
    operation_id="listAssociationRecords",
    responses={200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
async def list_records(
    request: Request,
    who: Party,
    app: App,
    kind: RecordKind | None = None,
    customer_id: UUID | None = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Manage Association Records: associations made and ended, type changes, and every
    step of every request, each with its actor, time and reason. Newest first; filter by
    `kind`, `customer_id`, `status`, `from`, `to`; pages of `limit` with `cursor`.

    With `Accept: text/csv` the answer is every record the filters match (no `limit`; after
    `cursor` if one is sent), newest first, as one CSV download for a spreadsheet: UTF-8,
    RFC 4180, a header row naming the JSON fields; `before` and `after` as compact JSON; a
    cell that a spreadsheet would take for a formula starts with `'`."""
    wanted = negotiate(request.headers.get("accept", ""), OFFERS)
    if wanted is None:
        raise Problem(
            406,
            ProblemCode.NOT_ACCEPTABLE,
            Text("Accept {types} (or any: `*/*`).", types=" or ".join(OFFERS)),
        )
    if wanted == CSV_MEDIA_TYPE:
        export = await records.export_records(
            app, who, kind=kind, customer_id=customer_id, status=status, from_=from_, to=to,
            cursor=cursor,
        )  # fmt: skip
        disposition = {"Content-Disposition": export.disposition}
        return StreamingResponse(export.chunks, media_type=wanted, headers=disposition | VARY)
    rows, next_cursor = await records.list_records(
        app, who, kind=kind, customer_id=customer_id, status=status, from_=from_, to=to,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    response = page_response(Page[Record](items=rows, next_cursor=next_cursor))
    response.headers.update(VARY)
    return response


def negotiate(accept: str, offers: tuple[str, ...]) -> str | None:
    """The offer an Accept header prefers (RFC 9110, 12.5.1): each offer takes the q of the most
    specific range that names it (`text/csv`, then `text/*`, then `*/*`); the highest q wins, a
    tie goes to the earlier offer. None when the header accepts none of them; no header (or an
    empty one) accepts anything. Parameters other than q are not compared."""
    if not accept.strip():
        return offers[0]
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    best, best_q = None, 0.0
    for offer in offers:
        q = _quality(offer, ranges)
        if q > best_q:
            best, best_q = offer, q
    return best


def _media_range(part: str) -> tuple[str, float]:
    """A media range and its q (1 unless said; an unreadable q accepts nothing)."""
    media, *parameters = (p.strip() for p in part.split(";"))
    q = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return media.lower(), q


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    for candidate in (offer, offer.split("/")[0] + "/*", "*/*"):
        named = [q for media, q in ranges if media == candidate]
        if named:
            return max(named)
    return 0.0
