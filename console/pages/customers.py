"""Customer Management (a partner's customers, searchable, a page at a time, with the row actions
"More > Change type" and "More > Disassociate") and a customer's "My partner" (with "Change type",
"Change partner" and "Disassociate")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from application import overview
from application.principal import Principal
from console.auth import RefreshingViewer, SignedInViewer, Svc, Viewer
from console.pages.live import live_url
from console.routing import ConsoleRoute
from console.views import request_view
from console.web import redirect, render
from domain.types import AssociationStatus, DecisionAction, RequestKind
from store.rows import AssociationOverview

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 20
Search = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/console/")
@router.get("/console")
async def home(request: Request, viewer: SignedInViewer) -> Response:
    return redirect(request, "/console/customers" if viewer.is_partner else "/console/partner")


@router.get("/console/customers")
async def customers(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    q: Search = "",
    status: str = "active",
    cursor: Cursor = None,
) -> Response:
    context = await _listed(request, svc, viewer, q, status, cursor)
    return render(request, "customers.html", {"nav": "customers", **context})


@router.get("/console/customers/live")
async def customers_live(
    request: Request,
    svc: Svc,
    viewer: RefreshingViewer,
    q: Search = "",
    status: str = "active",
    cursor: Cursor = None,
) -> Response:
    """The inside of the page's live region (customers.html): the same search and page, as the
    account's events say something changed (a request asked or settled, an association ended)."""
    context = await _listed(request, svc, viewer, q, status, cursor)
    return render(request, "_live_customers.html", context)


async def _listed(
    request: Request, svc: Svc, viewer: Viewer, q: str, status: str, cursor: str | None
) -> dict[str, object]:
    """The page's customers, and where its live region refreshes them from (the same query)."""
    wanted = AssociationStatus(status) if status in ("active", "ended") else None
    rows, next_cursor = await overview.associations(
        svc, viewer.who, search=q or None, status=wanted, limit=PAGE_SIZE, cursor=cursor
    )
    return {
        "rows": [_row(viewer.who, row) for row in rows],
        "q": q,
        "status": status if wanted else "all",
        "next_cursor": next_cursor,
        "first_page": cursor is None,
        "shows_partner": len(viewer.who.readable_partner_ids) > 1,
        "live_url": live_url("/console/customers/live", request),
    }


@router.get("/console/partner")
async def my_partner(request: Request, svc: Svc, viewer: SignedInViewer) -> Response:
    rows, _ = await overview.associations(
        svc, viewer.who, search=None, status=None, limit=PAGE_SIZE, cursor=None
    )
    current = next((row for row in rows if row.status is AssociationStatus.ACTIVE), None)
    pending = None
    if current is not None and current.pending_request_id is not None:
        pending = await request_view(svc, viewer.who, current.pending_request_id)
    context = {
        "nav": "partner",
        "current": _row(viewer.who, current) if current else None,
        "pending": pending,
        "earlier": [row for row in rows if row is not current],
        "AGREE": DecisionAction.AGREE,
        "REJECT": DecisionAction.REJECT,
        "WITHDRAW": DecisionAction.WITHDRAW,
    }
    return render(request, "my_partner.html", context)


def _row(who: Principal, row: AssociationOverview) -> dict[str, object]:
    return {
        "a": row,
        "may_disassociate": overview.may_ask(who, row, RequestKind.DISASSOCIATION),
        "may_change_type": overview.may_ask(who, row, RequestKind.TYPE_CHANGE),
        "may_change_partner": overview.may_ask(who, row, RequestKind.PARTNER_CHANGE),
        "awaits_us": overview.awaits_caller(who, row),
    }
