"""The one place where an error nothing nearer answered becomes a response, for every route: the
JSON API, the console, and the middleware in between (idempotency, authentication).

PostgreSQL not serving (down, restarting, no connection in time: `store.db.is_unavailable`) is
"not now": 503 `temporarily_unavailable` with Retry-After, or, on a console page, a page that
says so in words. Anything else is logged and answered 500 `internal_error`.

Either way the answer is sent here and the error goes no further: an error that reached the
server (uvicorn) after a response had started would make it close the client's keep-alive
connection, under whatever request the client sends next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import UNEXPECTED, language_of, problem_response
from domain.problems import ProblemCode
from domain.text import Text
from store.db import is_unavailable

log = logging.getLogger(__name__)

# How soon to try again: a healthy pool reconnects within a second of PostgreSQL's return.
RETRY_AFTER_SECONDS = 2
UNAVAILABLE_DETAIL = Text("assocflow cannot reach its database right now; try again shortly.")

# Makes the page a person sees for an outage, given the request's scope.
PageRenderer = Callable[[Scope], Response]


def unavailable_problem(language: str) -> Response:
    """503 in `language`: PostgreSQL is not serving."""
    return problem_response(
        503,
        ProblemCode.TEMPORARILY_UNAVAILABLE,
        UNAVAILABLE_DETAIL,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        language=language,
    )


def _unavailable(error: BaseException) -> bool:
    """An outage, alone or as every error of a group (task groups gather them so)."""
    if isinstance(error, BaseExceptionGroup):
        return all(_unavailable(inner) for inner in error.exceptions)
    return is_unavailable(error)


class ErrorBoundary:
    """Answers what escaped the routes and the middleware inside this one."""

    def __init__(self, app: ASGIApp, *, pages_prefix: str, page: PageRenderer) -> None:
        self.app = app
        self.pages_prefix = pages_prefix
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            if started:  # a stream cut mid-way: nothing can be said in it any more
                log.warning(
                    "response to %s %s cut short: %r", scope["method"], scope["path"], error
                )
                return
            response = self._answer(scope, error)
            await response(scope, receive, send)

    def _answer(self, scope: Scope, error: Exception) -> Response:
        if _unavailable(error):
            log.warning("database unavailable on %s %s: %r", scope["method"], scope["path"], error)
            if scope["path"].startswith(self.pages_prefix):
                return self.page(scope)
            return unavailable_problem(language_of(scope))
        log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=error)
        return problem_response(
            500, ProblemCode.INTERNAL_ERROR, UNEXPECTED, language=language_of(scope)
        )
