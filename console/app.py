"""Installing the console into the FastAPI app: its pages, its static files (htmx ships in the
package: no build step, nothing fetched from elsewhere), CSRF protection for its forms
(console/csrf.py), and a page for any console address that does not exist."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from application import sessions
from assocflow.settings import Settings
from console.csrf import PREFIX as PREFIX  # where the console lives, for server/app.py
from console.csrf import ConsoleCsrf, signing_secret
from console.errors import WORDS_OF_CODE, FormErrors
from console.language import N_, ConsoleLanguage
from console.pages import (
    ask,
    customers,
    events,
    incoming,
    languages,
    live,
    messages,
    records,
    requests,
    signin,
)
from console.pages import settings as settings_pages
from console.web import HERE, render
from domain.problems import ProblemCode


def install(app: FastAPI, settings: Settings) -> None:
    pages = (
        signin,
        languages,
        customers,
        incoming,
        ask,
        requests,
        records,
        live,
        messages,
        settings_pages,
        events,
    )
    for module in pages:
        app.include_router(module.router, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_api_route(
        f"{PREFIX}/{{path:path}}", _not_found, methods=["GET"], include_in_schema=False
    )


def protect(app: FastAPI, settings: Settings) -> None:
    """The console's forms carry their CSRF token (console/csrf.py). The composition root says
    where among the middleware this runs."""
    app.add_middleware(
        ConsoleCsrf, secret=signing_secret(settings), secure=sessions.cookie_secure(settings)
    )
    # Around it: its refusal is in the language the request's headers ask for.
    app.add_middleware(ConsoleLanguage, prefix=PREFIX)


async def _not_found(request: Request, path: str) -> Response:
    errors = FormErrors(form=N_("There is no page at this address."), code="not_found")
    return render(request, "problem.html", {"errors": errors}, status_code=404)


# How soon a page told of an outage may be tried again (seconds).
RETRY_AFTER = 2


def unavailable_page(scope: Scope) -> Response:
    """What a person sees when the service cannot reach its database: words, not an error code,
    and the page to try again from."""
    request = Request(scope)
    code = ProblemCode.TEMPORARILY_UNAVAILABLE
    errors = FormErrors(form=WORDS_OF_CODE[code], code=code)
    context = {"errors": errors, "retry_url": _retry_url(request)}
    response = render(request, "problem.html", context, status_code=503)
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _retry_url(request: Request) -> str:
    """Where to try again: the page itself, or for a form the page it was sent from."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    sent_from = urlsplit(request.headers.get("referer", ""))
    if sent_from.netloc == request.url.netloc and sent_from.path.startswith(PREFIX):
        return sent_from.path + (f"?{sent_from.query}" if sent_from.query else "")
    return f"{PREFIX}/"
