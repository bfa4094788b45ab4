"""Installing the console into the FastAPI app: its pages, its static files (htmx ships in the
package: no build step, nothing fetched from elsewhere), CSRF protection for its forms, and a
page for any console address that does not exist."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from application import sessions
from assocflow.settings import Settings
from console.errors import WORDS_OF_CODE, FormErrors
from console.pages import ask, customers, events, incoming, messages, records, requests, signin
from console.pages import settings as settings_pages
from console.web import HERE, render, templates
from domain.problems import ProblemCode

PREFIX = "/console"
# Forms that must carry a CSRF token even without a cookie yet (a forged sign-in would sign the
# victim in as the attacker).
ALWAYS_PROTECT = {"/console/sign-in"}


def install(app: FastAPI, settings: Settings) -> None:
    pages = (signin, customers, incoming, ask, requests, records, messages, settings_pages, events)
    for module in pages:
        app.include_router(module.router, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_api_route(
        f"{PREFIX}/{{path:path}}", _not_found, methods=["GET"], include_in_schema=False
    )
    app.add_middleware(
        ConsoleCsrf, secret=_csrf_secret(settings), secure=sessions.cookie_secure(settings)
    )


async def _not_found(request: Request, path: str) -> Response:
    errors = FormErrors(form="There is no page at this address.", code="not_found")
    return templates.TemplateResponse(
        request, "problem.html", {"errors": errors, "csrf_token": "", "page": request.state},
        status_code=404,
    )  # fmt: skip


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


def _csrf_secret(settings: Settings) -> str:
    """The key CSRF tokens are signed with: the same in every API process (derived from the
    encryption key when there is one), so that a form from one is accepted by another."""
    key = settings.encryption_key
    if key is None:
        return secrets.token_urlsafe(32)  # one process, locally
    first = key.get_secret_value().split(",")[0].strip()
    return hashlib.sha256(b"assocflow console csrf\n" + first.encode()).hexdigest()


class ConsoleCsrf:
    """asgi-csrf (signed double-submit cookie) on the console's forms only: the JSON API
    authenticates with bearer tokens, which a browser never sends on its own."""

    def __init__(self, app: ASGIApp, *, secret: str, secure: bool) -> None:
        self._app = app
        self._protected = asgi_csrf(
            app,
            signing_secret=secret,
            always_protect=ALWAYS_PROTECT,
            cookie_path=PREFIX,
            cookie_secure=secure,
            send_csrf_failed=_refused,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self._protected(scope, receive, send)
        else:
            await self._app(scope, receive, send)


async def _refused(scope: Scope, send: Send, message_id: Any) -> None:
    """A form without its token (or with another's): a page that says what to do."""
    body = templates.get_template("csrf_refused.html").render().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
