"""Manage Association Records: three tabs (Associations, Type changes, Disassociations) with the
SPEC's filters (customer, status, a time range), Next and Previous pages, and Agree / Reject in
the Operation column for requests awaiting the signed-in person's side."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from application import disassociations, overview, records
from console.auth import SignedInViewer, Svc
from console.errors import FormErrors
from console.routing import ConsoleRoute
from console.web import render
from domain.types import RequestStatus

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 20
Tab = Literal["associations", "type_changes", "disassociations"]
KIND_OF_TAB: dict[str, records.RecordKind] = {
    "associations": "association",
    "type_changes": "type_change",
}
Short = Annotated[str, Query(max_length=200)]
STATUSES = {s.value for s in RequestStatus}


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
    rows: list[dict[str, object]] = []
    next_cursor = None
    if not errors:
        if tab == "disassociations":
            wanted = RequestStatus(status) if status in STATUSES else None
            found, next_cursor = await disassociations.list_requests(
                svc, viewer.who, status=wanted, association_id=None, customer_id=customer,
                initiator=None, submitted_from=since, submitted_to=until,
                limit=PAGE_SIZE, cursor=cursor,
            )  # fmt: skip
            names = await overview.names_of(svc, found)
            rows = [
                {"r": r, "names": names, "actions": overview.actions_for(viewer.who, r)}
                for r in found
            ]
        else:
            kept, next_cursor = await records.list_records(
                svc, viewer.who, kind=KIND_OF_TAB[tab], customer_id=customer,
                status=status or None, from_=since, to=until, limit=PAGE_SIZE, cursor=cursor,
            )  # fmt: skip
            names = await overview.names_of(svc, kept)
            rows = [{"r": r, "names": names} for r in kept]
    context = {
        "nav": "records",
        "tab": tab,
        "rows": rows,
        "next_cursor": next_cursor,
        "errors": errors,
        "filters": {"customer_id": customer_id, "status": status, "from": from_, "to": to},
        "statuses": list(RequestStatus) if tab == "disassociations" else ["active", "ended"],
    }
    return render(request, "records.html", context, status_code=422 if errors else 200)


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
