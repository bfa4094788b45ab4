"""How every console route answers what goes wrong: never JSON, never a stack trace.

A person who is not signed in (or whose session ended) is sent to sign in and back; a refusal
nobody handled nearer is a page that says it in words; so is input the route could not read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from application.errors import Failure
from console.errors import FormErrors
from console.language import N_
from console.web import redirect, render

log = logging.getLogger(__name__)

STATUS_OF_CODE = {"not_found": 404, "forbidden": 403, "rate_limited": 429}


class SignInRequired(Exception):
    """No session, or one that ended (`expired`)."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__("sign in required")
        self.expired = expired


class GoTo(Exception):
    """Send the person elsewhere first (e.g. to set up their authenticator)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInRequired as needed:
                return _to_sign_in(request, expired=needed.expired)
            except GoTo as elsewhere:
                return redirect(request, elsewhere.url)
            except Failure as failure:
                errors = FormErrors.of(failure)
                status = STATUS_OF_CODE.get(failure.code, 409)
                return render(request, "problem.html", {"errors": errors}, status_code=status)
            except RequestValidationError:
                words = N_("This page could not read what was sent.")
                errors = FormErrors(form=words, code="invalid")
                return render(request, "problem.html", {"errors": errors}, status_code=400)

        return console_handler


def _to_sign_in(request: Request, *, expired: bool) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.headers.get("HX-Request") == "true":
        page = urlsplit(request.headers.get("HX-Current-URL") or "/console/")
        target = page.path + (f"?{page.query}" if page.query else "")
    url = f"/console/sign-in?next={quote(target, safe='/')}"
    if expired:
        url += "&ended=1"
    return redirect(request, url)
