"""The message center: the account's notifications, newest first, with the unread ones marked and
a badge in the navigation that counts them (kept current by the live events). For who may read
the associations (the use cases refuse the others; the navigation does not offer it to them)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from application import account
from console.auth import RefreshingViewer, SignedInViewer, Svc
from console.routing import ConsoleRoute
from console.web import redirect, render

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 20


@router.get("/console/messages")
async def messages(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    unread: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    rows, next_cursor = await account.list_notifications(
        svc, viewer.who, unread=True if unread else None, limit=PAGE_SIZE, cursor=cursor
    )
    context = {"nav": "messages", "rows": rows, "unread_only": unread, "next_cursor": next_cursor}
    return render(request, "messages.html", context)


@router.get("/console/messages/badge")
async def badge(request: Request, viewer: RefreshingViewer) -> Response:
    """The inside of the badge's live region (_badge.html): the count, as the page refreshes it."""
    return render(request, "_live_badge.html", {"viewer": viewer})


@router.post("/console/messages/{notification_id}/read")
async def mark_read(
    request: Request, svc: Svc, viewer: SignedInViewer, notification_id: UUID
) -> Response:
    await account.mark_read(svc, viewer.who, notification_id)
    back = "/console/messages?unread=true" if request.query_params.get("unread") else None
    return redirect(request, back or "/console/messages")
