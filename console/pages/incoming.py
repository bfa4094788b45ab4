"""Incoming customers: the partner changes that would bring the signed-in person's partner a
customer (it is their new partner), pending ones first, each with the customer's name and id, the
reason, the deadline and, while the new partner's answer is awaited, "Accept" (choosing the
association type) and "Decline" (with a reason)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from application import overview, requests
from application.errors import Failure
from application.principal import Principal
from application.services import Services
from console.auth import RefreshingViewer, SignedInViewer, Svc, Viewer
from console.language import N_
from console.pages.live import live_url
from console.routing import ConsoleRoute
from console.views import names_of
from console.web import render
from domain.problems import ProblemCode
from domain.types import DecisionAction, RequestKind, RequestStatus
from domain.types import Request as AnyRequest

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 20
# How many requests one read takes, and how many reads one page may take, to find its rows among
# the partner changes the person's partner is a party to (as the current partner too).
READ_SIZE = 100
MAX_READS = 5
# The new partner's answers (its Operation column).
ANSWERS = frozenset({DecisionAction.ACCEPT, DecisionAction.DECLINE})
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/console/incoming-customers")
async def incoming(
    request: Request, svc: Svc, viewer: SignedInViewer, cursor: Cursor = None
) -> Response:
    context = await _listed(request, svc, viewer, cursor)
    return render(request, "incoming.html", {"nav": "incoming", **context})


@router.get("/console/incoming-customers/live")
async def incoming_live(
    request: Request, svc: Svc, viewer: RefreshingViewer, cursor: Cursor = None
) -> Response:
    """The inside of the page's live region (incoming.html): the same page, as the account's
    events say something changed (a customer asked, a request was answered or settled)."""
    context = await _listed(request, svc, viewer, cursor)
    return render(request, "_live_incoming.html", context)


async def _listed(
    request: Request, svc: Svc, viewer: Viewer, cursor: str | None
) -> dict[str, object]:
    """The page's rows, and what its live region follows and refreshes from."""
    if not viewer.is_partner:  # a customer has no incoming customers
        raise Failure(ProblemCode.NOT_FOUND, N_("There is no page at this address."))
    who = viewer.who
    # Pending first (all of them, on the first page), then the others, newest first.
    pending: list[AnyRequest] = []
    if cursor is None:
        pending, _ = await _incoming(svc, who, RequestStatus.PENDING, None)
        pending.sort(key=lambda r: r.respond_by)  # the soonest deadline first
    earlier, next_cursor = await _incoming(svc, who, None, cursor)
    found = pending + earlier
    names = await overview.names_of(svc, found)
    rows: list[dict[str, Any]] = [
        {"r": r, "names": names, "actions": overview.actions_for(who, r) & ANSWERS} for r in found
    ]
    return {
        "rows": rows,
        "next_cursor": next_cursor,
        "shows_partner": len(who.readable_partner_ids) > 1,
        "partner_names": await _partner_names(svc, found),
        "live_url": live_url("/console/incoming-customers/live", request),
        "follows": _follows(viewer, pending),
    }


def _follows(viewer: Viewer, pending: list[AnyRequest]) -> list[str]:
    """The events the page's live region follows: the account's, which tell of every request
    (a new one too), for who may read them; else those of the pending requests it shows."""
    if viewer.may_read_messages:
        return ["notification"]
    return [f"request-{r.id}" for r in pending]


async def _incoming(
    svc: Services, who: Principal, status: RequestStatus | None, cursor: str | None
) -> tuple[list[AnyRequest], str | None]:
    """Partner changes of `status` (every one but the pending ones, for None) whose new partner
    is one the person reads, from `cursor`: whole reads until a page's worth is found (a page may
    hold more; the pending ones, all there are within MAX_READS reads), and the cursor after the
    last read.

    The use case lists the partner changes a partner is either party to; those where it is the
    current partner are left out here."""
    mine = set(who.readable_partner_ids)
    found: list[AnyRequest] = []
    for _ in range(MAX_READS):
        read, cursor = await requests.list_requests(
            svc, who, RequestKind.PARTNER_CHANGE, status=status, association_id=None,
            customer_id=None, initiator=None, limit=READ_SIZE, cursor=cursor,
        )  # fmt: skip
        found += [r for r in read if r.new_partner_id in mine and _wanted(r, status)]
        if cursor is None or (status is None and len(found) >= PAGE_SIZE):
            break
    return found, cursor


def _wanted(r: AnyRequest, status: RequestStatus | None) -> bool:
    """All of `status`; or, listing every status, those no longer pending (listed first)."""
    return status is not None or r.status is not RequestStatus.PENDING


async def _partner_names(svc: Services, found: list[AnyRequest]) -> dict[UUID, str]:
    return await names_of(svc, partners={r.new_partner_id for r in found if r.new_partner_id})
