"""Manage Association Records: four tabs (Associations, Type changes, Disassociations, Partner
changes) with the SPEC's filters (customer, status, a time range), Next and Previous pages, and
Agree / Reject (Accept / Decline, a partner change's new partner) in the Operation column for
requests awaiting the signed-in person's answer.

The Disassociations and Partner changes tabs list the requests (a partner change's, those the
person's partner is either partner of). The Associations and Type changes tabs list the
records (the log of what happened); the Type changes tab's records are operators' changes and
type change requests alike, and the record of a request's asking carries Agree / Reject while the
request awaits the person's answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from application import overview, records, requests
from application.principal import Principal
from application.services import Services
from console.auth import SignedInViewer, Svc
from console.errors import FormErrors
from console.routing import ConsoleRoute
from console.views import names_of
from console.web import render, status_words
from domain import decisions
from domain.types import Request as AnyRequest
from domain.types import RequestKind, RequestStatus
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
    "associations": [("active", "Active"), ("ended", "Ended")],
    "type_changes": [
        ("pending", "Requested"),
        *(
            (s.value, status_words(s))
            for s in RequestStatus
            # never auto-agreed
            if s not in (RequestStatus.PENDING, RequestStatus.AUTO_AGREED, *MOVES)
        ),
        ("active", "Type changed"),
    ],
    "disassociations": [(s.value, status_words(s)) for s in RequestStatus if s not in MOVES],
    "partner_changes": [
        (s.value, status_words(s))
        for s in RequestStatus
        if s not in (RequestStatus.AGREED, RequestStatus.AUTO_AGREED)  # it completes instead
    ],
}
# The decisions a records row offers (a withdrawal is the request page's): the answers, Agree /
# Reject and a partner change's new partner's Accept / Decline.
ANSWERS = decisions.ANSWERS


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
    customer = _uuid(customer_id, errors)
    since, until = _day(from_, "from", errors), _day(to, "to", errors, end=True)
    rows: list[dict[str, Any]] = []
    next_cursor = None
    if not errors:
        filters = Filters(customer, status, since, until)
        rows, next_cursor = await LISTS[tab](svc, viewer.who, filters, cursor)
    context = {
        "nav": "records",
        "tab": tab,
        "rows": rows,
        "next_cursor": next_cursor,
        "errors": errors,
        "filters": {"customer_id": customer_id, "status": status, "from": from_, "to": to},
        "statuses": STATUS_CHOICES[tab],
    }
    return render(request, "records.html", context, status_code=422 if errors else 200)


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
    rows = [
        {"r": r, "names": names, "actions": overview.actions_for(who, r) & ANSWERS} for r in found
    ]
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
        actions = overview.actions_for(who, now) & ANSWERS if now else frozenset()
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
        errors.add("customer_id", "A customer ID looks like 00000000-0000-4000-8000-000000000301.")
        return None


def _day(text: str, name: str, errors: FormErrors, *, end: bool = False) -> datetime | None:
    """A day as the date field sends it (YYYY-MM-DD), as the start of that day in UTC; `end`
    takes the whole day in (the start of the next)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors.add(name, "Enter a date as YYYY-MM-DD.")
        return None
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start
