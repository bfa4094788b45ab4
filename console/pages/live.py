"""What the console's live regions (templates/_live.html) need besides their pages: where a page's
part refreshes from (`live_url`), and the rows of Manage Association Records that follow their
request.

On the Disassociations, Partner changes and Type changes tabs, a row whose request is pending is a
live region, and `records_row` answers its cells (templates/_live_records_row.html) when the page
refreshes them: its status, its partners' answers and its Operation (Agree / Reject, Accept /
Decline) change as the request does, without a reload. A row is built as console/pages/records.py
builds the tab's: the request with its parties' names and the answers the person may give now;
on the Type changes tab, the record of the request's asking with the request as it stands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from application import overview, records, requests
from application.errors import not_found
from application.principal import Principal
from application.services import Services
from console.auth import RefreshingViewer, Svc
from console.pages.records import TAB_OF_KIND, row_answers
from console.routing import ConsoleRoute
from console.views import names_of
from console.web import render
from domain.types import Request as AnyRequest
from domain.types import RequestKind, RequestStatus
from store.rows import Record

router = APIRouter(route_class=ConsoleRoute)

# The tabs whose rows follow a request, and the kind each lists.
LiveTab = Literal["type_changes", "disassociations", "partner_changes"]
KIND_OF_TAB: dict[str, RequestKind] = {tab: kind for kind, tab in TAB_OF_KIND.items()}
# How many records one asking's moment may hold (one per request asked at that instant).
ASKED_AT_ONCE = 10


def live_url(path: str, request: Request) -> str:
    """Where a page's live region refreshes from: the part's route (`path`), asked with the
    page's own query (its search, filters and page), so that it shows what the page shows."""
    query = request.url.query
    return f"{path}?{query}" if query else path


@router.get("/console/records/{tab}/{request_id}/live")
async def records_row(
    request: Request, svc: Svc, viewer: RefreshingViewer, tab: LiveTab, request_id: UUID
) -> Response:
    """A row's cells, as its live region refreshes them."""
    who = viewer.who
    asked = await requests.get(svc, who, KIND_OF_TAB[tab], request_id)
    if tab == "type_changes":
        row = await _asking_row(svc, who, asked)
    else:
        row = await _request_row(svc, who, asked)
    return render(request, "_live_records_row.html", {"tab": tab, "row": row})


async def _request_row(svc: Services, who: Principal, r: AnyRequest) -> dict[str, Any]:
    """A request's row (Disassociations, Partner changes): with a partner change's new partner
    named too."""
    names = await overview.names_of(svc, [r])
    if r.new_partner_id:
        names = {**names, **await names_of(svc, partners={r.new_partner_id})}
    return {"r": r, "names": names, "actions": row_answers(who, r)}


async def _asking_row(svc: Services, who: Principal, asked: AnyRequest) -> dict[str, Any]:
    """The row of the record of a type change's asking (Type changes), with the request."""
    record = await _asking(svc, who, asked)
    names = await overview.names_of(svc, [record])
    return {"r": record, "names": names, "request": asked, "actions": row_answers(who, asked)}


async def _asking(svc: Services, who: Principal, asked: AnyRequest) -> Record:
    """The record written when the request was asked for: its customer's, `pending`, at the
    moment it was submitted (store/requests.py writes it with the request, at `submitted_at`)."""
    found, _ = await records.list_records(
        svc, who, kind="type_change", customer_id=asked.customer_id,
        status=RequestStatus.PENDING.value, from_=asked.submitted_at,
        to=asked.submitted_at + timedelta(microseconds=1), limit=ASKED_AT_ONCE, cursor=None,
    )  # fmt: skip
    for record in found:
        if record.request_id == asked.id and record.action == "requested":
            return record
    raise not_found("record")
