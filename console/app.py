"""Installing the console into the FastAPI app: its pages, its static files (htmx ships in the
package: no build step, nothing fetched from elsewhere), CSRF protection for its forms
(console/csrf.py), and a page for any console address that does not exist."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

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
    first = len(app.router.routes)
    for module in pages:
        app.include_router(module.router, include_in_schema=False)
    app.router.routes.insert(0, ConsoleFirst(app.router.routes[first:]))
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


class ConsoleFirst(BaseRoute):
    """The console's pages, found without trying the JSON API's routes first.

    The app's router tries its routes in order, and an included router has no prefix check: a
    console address was tried against each of the API's 72 routes before its own (about 0.13 ms of
    a page's CPU, an eighth of the message center's). First in the app's list, this tries the
    console's routers for a console address and nothing for any other. The routers stay where they
    were in the list too, so a console address this does not match (the static files, a wrong
    method, no such page) goes on as before, to the same answer."""

    def __init__(self, routers: list[BaseRoute]) -> None:
        self.routers = routers

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and _is_console(_route_path(scope)):
            for router in self.routers:
                match, child_scope = router.matches(scope)
                if match is Match.FULL:
                    return Match.FULL, {**child_scope, _CHOSEN: router}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        router: BaseRoute = scope.pop(_CHOSEN)
        await router.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)  # the routers themselves answer, later in the list


_CHOSEN = "assocflow.console_router"


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(f"{PREFIX}/")


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
