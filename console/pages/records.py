"""Manage Association Records: four tabs (Associations, Type changes, Disassociations, Partner
changes) with the SPEC's filters (customer, status, a time range), Next and Previous pages, and
Agree / Reject (Accept / Decline, a partner change's new partner) in the Operation column for
requests awaiting the signed-in person's answer.

The Disassociations and Partner changes tabs list the requests (a partner change's, those the
person's partner is either partner of). The Associations and Type changes tabs list the
records (the log of what happened); the Type changes tab's records are operators' changes and
type change requests alike, and the record of a request's asking carries Agree / Reject while the
request awaits the person's answer.

Each tab's Export link (templates/_export.html) downloads the records of the tab's kind with the
tab's filters as CSV (/console/records/export): the JSON API's CSV answer, made by the same use
case for the signed-in person, since a link cannot send an Accept header. On the Disassociations
and Partner changes tabs these are the records (every step of every request), not the requests
the tab lists one per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from application import overview, records, requests
from application.principal import Principal
from application.services import Services
from console.auth import SignedInViewer, Svc
from console.errors import FormErrors
from console.language import N_
from console.routing import ConsoleRoute
from console.views import names_of
from console.web import query, render, status_words
from domain import decisions
from domain.types import DecisionAction, RequestKind, RequestStatus
from domain.types import Request as AnyRequest
from store.rows import Record

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 20
Tab = Literal["associations", "type_changes", "disassociations", "partner_changes"]
# The tab that lists the requests of a kind (a request's page links back to it).
TAB_OF_KIND: dict[RequestKind, Tab] = {
    RequestKind.DISASSOCIATION: "disassociations",
    RequestKind.TYPE_CHANGE: "type_changes",
    RequestKind.PARTNER_CHANGE: "partner_changes",
}
Short = Annotated[str, Query(max_length=200)]
STATUSES = {s.value for s in RequestStatus}
# A partner change's own outcomes, which no other kind reaches.
MOVES = (RequestStatus.COMPLETED, RequestStatus.DECLINED)
# What the Status filter offers on each tab: the statuses its rows carry, in words. A type change
# record's status is that of the request when it was written (`pending` when it was asked for),
# or the association's (`active`) on the record of the change itself.
STATUS_CHOICES: dict[Tab, list[tuple[str, str]]] = {
    "associations": [("active", N_("Active")), ("ended", N_("Ended"))],
    "type_changes": [
        ("pending", N_("Requested")),
        *(
            (s.value, status_words(s))
            for s in RequestStatus
            # never auto-agreed
            if s not in (RequestStatus.PENDING, RequestStatus.AUTO_AGREED, *MOVES)
        ),
        ("active", N_("Type changed")),
    ],
    "disassociations": [(s.value, status_words(s)) for s in RequestStatus if s not in MOVES],
    "partner_changes": [
        (s.value, status_words(s))
        for s in RequestStatus
        if s not in (RequestStatus.AGREED, RequestStatus.AUTO_AGREED)  # it completes instead
    ],
}
# The records each tab exports: those of its kind.
KIND_OF_TAB: dict[Tab, records.RecordKind] = {
    "associations": "association",
    "type_changes": "type_change",
    "disassociations": "disassociation",
    "partner_changes": "partner_change",
}
EXPORT = "/console/records/export"
# The decisions a records row offers (a withdrawal is the request page's): the answers, Agree /
# Reject and a partner change's new partner's Accept / Decline.
ANSWERS = decisions.ANSWERS


def row_answers(who: Principal, r: AnyRequest) -> frozenset[DecisionAction]:
    """What a records row offers: the answers the person may give now (the page's rows and the
    live row alike)."""
    return overview.actions_for(who, r) & ANSWERS


# What a customer ID looks like, where one that is not is refused.
CUSTOMER_ID_EXAMPLE = "00000000-0000-4000-8000-000000000301"


@dataclass(frozen=True)
class Filters:
    customer_id: UUID | None
    status: str
    since: datetime | None
    until: datetime | None


Rows = tuple[list[dict[str, Any]], str | None]


@router.get("/console/records")
async def records_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    tab: Tab = "associations",
    customer_id: Short = "",
    status: Short = "",
    from_: Annotated[str, Query(alias="from", max_length=10)] = "",
    to: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    errors = FormErrors()
    filters = _filters(customer_id, status, from_, to, errors)
    rows: list[dict[str, Any]] = []
    next_cursor = None
    if filters is not None:
        rows, next_cursor = await LISTS[tab](svc, viewer.who, filters, cursor)
    context = {
        "nav": "records",
        "tab": tab,
        "rows": rows,
        "next_cursor": next_cursor,
        "errors": errors,
        "filters": {"customer_id": customer_id, "status": status, "from": from_, "to": to},
        "statuses": STATUS_CHOICES[tab],
        "export_url": None if errors else _export_url(request),
    }
    return render(request, "records.html", context, status_code=422 if errors else 200)


@router.get(EXPORT)
async def records_export(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    tab: Tab = "associations",
    customer_id: Short = "",
    status: Short = "",
    from_: Annotated[str, Query(alias="from", max_length=10)] = "",
    to: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The tab's records, with its filters, as the CSV download the API answers with `Accept:
    text/csv` (application/records.py `export_records`). A wrong filter is the records page
    with its words, as the Search button would show it."""
    errors = FormErrors()
    filters = _filters(customer_id, status, from_, to, errors)
    if filters is None:
        return await records_page(request, svc, viewer, tab, customer_id, status, from_, to)
    export = await records.export_records(
        svc, viewer.who, kind=KIND_OF_TAB[tab], customer_id=filters.customer_id,
        status=filters.status or None, from_=filters.since, to=filters.until,
    )  # fmt: skip
    headers = {"Content-Disposition": export.disposition, "Cache-Control": "no-store"}
    return StreamingResponse(export.chunks, media_type=records.CSV_MEDIA_TYPE, headers=headers)


def _export_url(request: Request) -> str:
    """The Export link (_export.html): the tab as it is filtered, every page of it."""
    return EXPORT + query(request, cursor=None, trail=None).rstrip("?")


def _filters(
    customer_id: str, status: str, from_: str, to: str, errors: FormErrors
) -> Filters | None:
    """The filters as the form sends them, read; None (and `errors` say why) when one is wrong."""
    customer = _uuid(customer_id, errors)
    since, until = _day(from_, "from", errors), _day(to, "to", errors, end=True)
    return None if errors else Filters(customer, status, since, until)


async def _disassociations(
    svc: Services, who: Principal, filters: Filters, cursor: str | None
) -> Rows:
    return await _requests(svc, who, RequestKind.DISASSOCIATION, filters, cursor)


async def _partner_changes(
    svc: Services, who: Principal, filters: Filters, cursor: str | None
) -> Rows:
    rows, next_cursor = await _requests(svc, who, RequestKind.PARTNER_CHANGE, filters, cursor)
    moved_to = {row["r"].new_partner_id for row in rows if row["r"].new_partner_id}
    new_partners = await names_of(svc, partners=moved_to)
    for row in rows:
        row["names"] = {**row["names"], **new_partners}
    return rows, next_cursor


async def _requests(
    svc: Services, who: Principal, kind: RequestKind, filters: Filters, cursor: str | None
) -> Rows:
    wanted = RequestStatus(filters.status) if filters.status in STATUSES else None
    found, next_cursor = await requests.list_requests(
        svc, who, kind, status=wanted, association_id=None,
        customer_id=filters.customer_id, initiator=None, submitted_from=filters.since,
        submitted_to=filters.until, limit=PAGE_SIZE, cursor=cursor,
    )  # fmt: skip
    names = await overview.names_of(svc, found)
    rows = [{"r": r, "names": names, "actions": row_answers(who, r)} for r in found]
    return rows, next_cursor


async def _associations(
    svc: Services, who: Principal, filters: Filters, cursor: str | None
) -> Rows:
    kept, next_cursor = await _records(svc, who, "association", filters, cursor)
    names = await overview.names_of(svc, kept)
    return [{"r": r, "names": names} for r in kept], next_cursor


async def _type_changes(
    svc: Services, who: Principal, filters: Filters, cursor: str | None
) -> Rows:
    kept, next_cursor = await _records(svc, who, "type_change", filters, cursor)
    names = await overview.names_of(svc, kept)
    asked = await _as_they_stand(svc, who, kept)
    rows = []
    for r in kept:
        now = asked.get(r.request_id) if r.action == "requested" and r.request_id else None
        actions = row_answers(who, now) if now else frozenset()
        rows.append({"r": r, "names": names, "request": now, "actions": actions})
    return rows, next_cursor


async def _records(
    svc: Services, who: Principal, kind: records.RecordKind, filters: Filters, cursor: str | None
) -> tuple[list[Record], str | None]:
    return await records.list_records(
        svc, who, kind=kind, customer_id=filters.customer_id, status=filters.status or None,
        from_=filters.since, to=filters.until, limit=PAGE_SIZE, cursor=cursor,
    )  # fmt: skip


async def _as_they_stand(
    svc: Services, who: Principal, kept: list[Record]
) -> dict[UUID, AnyRequest]:
    """The requests whose asking is on the page, as they are now: a record says what was so when
    it was written, and only the request says whether it still awaits an answer."""
    ids = sorted({r.request_id for r in kept if r.action == "requested" and r.request_id})
    found = await requests.get_many(svc, who, RequestKind.TYPE_CHANGE, ids) if ids else []
    return {r.id: r for r in found}


LISTS: dict[Tab, Callable[[Services, Principal, Filters, str | None], Awaitable[Rows]]] = {
    "associations": _associations,
    "type_changes": _type_changes,
    "disassociations": _disassociations,
    "partner_changes": _partner_changes,
}


def _uuid(text: str, errors: FormErrors) -> UUID | None:
    if not text.strip():
        return None
    try:
        return UUID(text.strip())
    except ValueError:
        errors.add(
            "customer_id", N_("A customer ID looks like {example}.", example=CUSTOMER_ID_EXAMPLE)
        )
        return None


def _day(text: str, name: str, errors: FormErrors, *, end: bool = False) -> datetime | None:
    """A day as the date field sends it (YYYY-MM-DD), as the start of that day in UTC; `end`
    takes the whole day in (the start of the next)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors.add(name, N_("Enter a date as YYYY-MM-DD."))
        return None
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start
