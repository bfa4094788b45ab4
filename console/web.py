"""Rendering the console's pages: the Jinja2 environment, what every page knows (who is signed in,
their account, the unread count, the CSRF token), and the words for times and statuses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from domain import kinds
from domain.types import RequestKind, RequestStatus

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

STATUS_WORDS = {
    RequestStatus.PENDING: "Awaiting response",
    RequestStatus.AGREED: "Agreed",
    RequestStatus.AUTO_AGREED: "Agreed automatically (no response in time)",
    RequestStatus.REJECTED: "Rejected",
    RequestStatus.EXPIRED: "Expired (no response in time)",
    RequestStatus.WITHDRAWN: "Withdrawn",
    RequestStatus.CANCELLED: "Cancelled by the platform",
    RequestStatus.COMPLETED: "Completed: the customer moved",
    RequestStatus.DECLINED: "Declined by the new partner",
}

ASSOCIATION_TYPE_WORDS = {
    "referral": "Referral",
    "advance_payment": "Advance payment",
    "resale": "Resale",
}


# "Type change": what a request of each kind is called where the kind must be said.
KIND_TITLES = {kind.value: kinds.of(kind).title for kind in RequestKind}


def type_words(association_type: str | None) -> str:
    """An association type as people read it ("Advance payment")."""
    if association_type is None:
        return ""
    return ASSOCIATION_TYPE_WORDS.get(association_type, association_type)


# Who did something, by the kind of actor a record's `actor` ("customer_user:<id>") names.
ACTOR_WORDS = {
    "partner_user": "Partner user",
    "customer_user": "Customer user",
    "partner": "Partner (service token)",
    "customer": "Customer (service token)",
    "operator": "Operator",
    "temporal_ui": "Operator in the Temporal UI",
    "system": "assocflow",
}


def actor_words(ref: str) -> tuple[str, str]:
    """A record's actor as (who, in words; their id): ("Customer user", "<id>")."""
    kind, _, rest = ref.partition(":")
    words = ACTOR_WORDS.get(kind, kind)
    return words, "" if rest == words else rest  # "system:assocflow" says it once


def when(moment: datetime | None) -> str:
    """A time as people read it here: UTC, to the minute."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def status_words(status: RequestStatus | str | None) -> str:
    if status is None:
        return ""
    try:
        return STATUS_WORDS[RequestStatus(status)]
    except ValueError:  # not a request's status (a record's `active`): as it is
        return str(status)


def query(request: Request, **changes: Any) -> str:
    """The current page's query string with `changes` (None removes a parameter)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


# How many pages back "Previous" can go (the trail of cursors rides in the URL).
MAX_TRAIL = 50


def pages(request: Request, next_cursor: str | None) -> dict[str, str | None]:
    """Links to the next and the previous page of a keyset-paged list: the cursors of the pages
    before this one ride along in `trail` ("-" standing for the first page)."""
    cursor = request.query_params.get("cursor")
    trail = [c for c in request.query_params.get("trail", "").split(",") if c][-MAX_TRAIL:]
    next_url = None
    if next_cursor:
        next_url = query(request, cursor=next_cursor, trail=",".join([*trail, cursor or "-"]))
    previous_url = None
    if cursor:
        before = trail[-1] if trail else "-"
        previous_url = query(
            request, cursor=None if before == "-" else before, trail=",".join(trail[:-1]) or None
        )
    return {"next": next_url, "previous": previous_url}


templates.env.filters["when"] = when
templates.env.filters["status_words"] = status_words
templates.env.filters["type_words"] = type_words
templates.env.filters["actor_words"] = actor_words
templates.env.globals["ASSOCIATION_TYPE_WORDS"] = ASSOCIATION_TYPE_WORDS
templates.env.globals["KIND_TITLES"] = KIND_TITLES
templates.env.globals["query"] = query
templates.env.globals["pages"] = pages


def csrf_token(request: Request) -> str:
    """The CSRF token forms carry (asgi-csrf's double-submit cookie)."""
    token = request.scope.get("csrftoken")
    return token() if callable(token) else ""


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    page = {"request": request, "csrf_token": csrf_token(request), "page": request.state}
    page.update(context or {})
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    # Pages show what only the signed-in person may see: no cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(request: Request, url: str) -> RedirectResponse:
    """See-other after a form: a reload or the back button never sends the form again. An htmx
    request is told to go there as a whole page."""
    if request.headers.get("HX-Request") == "true":
        response = RedirectResponse(url, status_code=200)
        response.headers["HX-Redirect"] = url
        return response
    return RedirectResponse(url, status_code=303)
