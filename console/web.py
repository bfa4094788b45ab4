"""Rendering the console's pages: the Jinja2 environment, what every page knows (who is signed in,
their account, the unread count, the CSRF token, its language), and the words for times and
statuses.

Every page is in one language (console/language.py): its templates say their words with `_()`
and `{% trans %}` (Jinja2's i18n extension, newstyle gettext), in the `console` catalogue of the
page's language; words written before the language was known (Words, a use case's Text) are
rendered with the `t` filter, moments with `when`, numbers with `number`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from assocflow import i18n
from console import language
from console.language import N_, Words, say
from domain.types import AssociationStatus, RequestKind, RequestStatus

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

STATUS_WORDS = {
    RequestStatus.PENDING: N_("Awaiting response"),
    RequestStatus.AGREED: N_("Agreed"),
    RequestStatus.AUTO_AGREED: N_("Agreed automatically (no response in time)"),
    RequestStatus.REJECTED: N_("Rejected"),
    RequestStatus.EXPIRED: N_("Expired (no response in time)"),
    RequestStatus.WITHDRAWN: N_("Withdrawn"),
    RequestStatus.CANCELLED: N_("Cancelled by the platform"),
    RequestStatus.COMPLETED: N_("Completed: the customer moved"),
    RequestStatus.DECLINED: N_("Declined by the new partner"),
}

ASSOCIATION_TYPE_WORDS = {
    "referral": N_("Referral"),
    "advance_payment": N_("Advance payment"),
    "resale": N_("Resale"),
}


# "Type change": what a request of each kind is called where the kind must be said.
KIND_TITLES = {
    RequestKind.DISASSOCIATION.value: N_("Disassociation"),
    RequestKind.TYPE_CHANGE.value: N_("Type change"),
    RequestKind.PARTNER_CHANGE.value: N_("Partner change"),
}


def type_words(association_type: str | None) -> str:
    """An association type as people read it ("Advance payment")."""
    if association_type is None:
        return ""
    return ASSOCIATION_TYPE_WORDS.get(association_type, association_type)


# Who did something, by the kind of actor a record's `actor` ("customer_user:<id>") names.
ACTOR_WORDS = {
    "partner_user": N_("Partner user"),
    "customer_user": N_("Customer user"),
    "partner": N_("Partner (service token)"),
    "customer": N_("Customer (service token)"),
    "operator": N_("Operator"),
    "temporal_ui": N_("Operator in the Temporal UI"),
    "system": Words("assocflow"),  # the product's name, in every language
}


def actor_words(ref: str) -> tuple[str, str]:
    """A record's actor as (who, in words; their id): ("Customer user", "<id>")."""
    kind, _, rest = ref.partition(":")
    words = ACTOR_WORDS.get(kind, kind)
    return words, "" if rest == words else rest  # "system:assocflow" says it once


def when(moment: datetime | None, lang: str = i18n.DEFAULT_LANGUAGE) -> str:
    """A moment as people of `lang` read it: in UTC, the zone named."""
    if moment is None:
        return ""
    return i18n.moment(moment, lang)


# An association's status, where a record or a page says it.
ASSOCIATION_STATUS_WORDS = {
    AssociationStatus.ACTIVE.value: N_("Active"),
    AssociationStatus.ENDED.value: N_("Ended"),
}

# A webhook delivery's state.
DELIVERY_WORDS = {
    "pending": N_("Pending"),
    "delivered": N_("Delivered"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
}


def status_words(status: RequestStatus | str | None) -> str:
    """A request's status as people read it (an association's, for a record of one)."""
    if status is None:
        return ""
    try:
        return STATUS_WORDS[RequestStatus(status)]
    except ValueError:  # not a request's status (a record's `active`)
        return ASSOCIATION_STATUS_WORDS.get(str(status), str(status))


def delivery_words(status: str) -> str:
    return DELIVERY_WORDS.get(status, status)


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


# --- the page's language ---------------------------------------------------------------------


def page_language(context: Context) -> str:
    """The language of the page being rendered: render() says it (`lang`); what is rendered
    without a page (the CSRF refusal) has the request's, from its headers."""
    chosen = context.get("lang")
    return chosen if isinstance(chosen, str) and chosen in i18n.LANGUAGES else language.current()


def _catalogue(context: Context) -> Any:
    return i18n.translations(page_language(context), language.DOMAIN)


def _finished(context: Context, translated: str, variables: dict[str, Any]) -> str:
    """As Jinja2's newstyle gettext: escaped unless the catalogue's own, then `%(name)s`
    filled in (escaped in their turn)."""
    if context.eval_ctx.autoescape:
        translated = Markup(translated)  # noqa: S704 (our catalogue's words, not input)
    return translated % variables


@pass_context
def _gettext(context: Context, message: str, **variables: Any) -> str:
    return _finished(context, _catalogue(context).gettext(message), variables)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int, /, **variables: Any) -> str:
    translated = _catalogue(context).ngettext(singular, plural, count)
    return _finished(context, translated, {"num": count, **variables})


def _in_page(words: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that gives `words(value)` in the page's language."""

    @pass_context
    def in_page(context: Context, value: Any, *args: Any) -> Any:
        return say(words(value, *args), page_language(context))

    return in_page


@pass_context
def _when(context: Context, moment: datetime | None) -> str:
    return when(moment, page_language(context))


@pass_context
def _number(context: Context, value: float) -> str:
    return i18n.number(value, page_language(context))


@pass_context
def _actor_words(context: Context, ref: str) -> tuple[str, str]:
    who, rest = actor_words(ref)
    return say(who, page_language(context)), rest


templates.env.add_extension("jinja2.ext.i18n")
templates.env.newstyle_gettext = True  # type: ignore[attr-defined]
templates.env.globals["_"] = templates.env.globals["gettext"] = _gettext
templates.env.globals["ngettext"] = _ngettext
templates.env.globals["page_language"] = pass_context(page_language)
templates.env.globals["LANGUAGES"] = i18n.LANGUAGES
templates.env.filters["t"] = _in_page(lambda words: words)
templates.env.filters["when"] = _when
templates.env.filters["number"] = _number
templates.env.filters["status_words"] = _in_page(status_words)
templates.env.filters["type_words"] = _in_page(type_words)
templates.env.filters["delivery_words"] = _in_page(delivery_words)
templates.env.filters["actor_words"] = _actor_words
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
    lang = language.of(request)
    page = {
        "request": request,
        "csrf_token": csrf_token(request),
        "page": request.state,
        "lang": lang,
        "page_url": page_url(request),
    }
    page.update(context or {})
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    # Pages show what only the signed-in person may see: no cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    _keep_persons_language(request, response)
    return response


def page_url(request: Request) -> str:
    """Where the language switcher comes back to: the page itself; for a page answering a form
    (a POST), its own address, which shows the form anew (a page may say better: `page_url`)."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _keep_persons_language(request: Request, response: HTMLResponse) -> None:
    """The signed-in person's own language goes in the browser's cookie too: the sign-in page
    after signing out is in it."""
    viewer = getattr(request.state, "viewer", None)
    chosen = viewer.session.language if viewer is not None else None
    if chosen and request.cookies.get(language.COOKIE) != chosen:
        language.keep(request, response, chosen)


def only_console(target: str | None) -> str:
    """Where to go after a form: only a console page of this site, never another site (an open
    redirect)."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/"


def redirect(request: Request, url: str) -> RedirectResponse:
    """See-other after a form: a reload or the back button never sends the form again. An htmx
    request is told to go there as a whole page."""
    if request.headers.get("HX-Request") == "true":
        response = RedirectResponse(url, status_code=200)
        response.headers["HX-Redirect"] = url
        return response
    return RedirectResponse(url, status_code=303)
