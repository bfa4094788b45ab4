"""The language of a console page (assocflow/i18n.py): the signed-in person's own setting, else
the choice kept in a cookie (made signed out, on the sign-in or invitation page), else the
browser's Accept-Language, else English.

Words the console writes before it knows who will read them (a module's constants, a form's
errors) are `Words`: their English (they are str), rendered in the page's language where a
template shows them (`| t`). A use case's `i18n.Text` is rendered the same way, in its own
domain. A page renders its words with the `_`, `gettext` and `ngettext` of web.py, which read the
page's language from the template's context: nothing is installed on the shared Environment per
request, so concurrent requests never lend each other their language.

`ConsoleLanguage` names the language of a request early (cookie and Accept-Language only) for
what is rendered far from any page: the CSRF refusal, which console/csrf.py renders with no
context at all.
"""

from __future__ import annotations

import contextvars
from typing import Any

from fastapi import Request, Response
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from application import sessions
from assocflow import i18n

COOKIE = "assocflow_language"
COOKIE_PATH = "/console"
COOKIE_MAX_AGE = 365 * 24 * 3600  # a year: the choice of a browser nobody signed in on
DOMAIN = "console"

# The language of the request being answered, as far as its headers tell (see ConsoleLanguage).
_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "console_language", default=i18n.DEFAULT_LANGUAGE
)


class Words(i18n.Text):
    """Console words written before the page's language is known: a Text (its English, message
    id and parameters) whose message id is in the `console` catalogue. Parameters that are words
    themselves (Words, a use case's Text) are rendered in the same language, each from its own
    catalogue."""

    def to(self, language: str) -> str:
        params = {key: say(value, language) for key, value in self.params.items()}
        return i18n.gettext(language, self.msgid, DOMAIN, **params)


def N_(msgid: str, **params: Any) -> Words:  # noqa: N802 (gettext's name for "mark for later")
    """Mark words for translation where they are written; a page renders them in its language.
    `pybabel extract -k N_` finds them."""
    return Words(msgid, **params)


def say(words: Any, language: str) -> Any:
    """`words` as `language` reads them: Words and a use case's Text translated; anything else
    (a name, an id, a number) as it is."""
    if isinstance(words, i18n.Text):  # Words too
        return words.to(language)
    return words


def gettext(language: str, message: str, **params: Any) -> str:
    """A console message in `language` now, with its `{name}` placeholders put in."""
    return i18n.gettext(language, message, DOMAIN, **params)


def of(request: Request) -> str:
    """The language of the page answering `request` (see the module's docstring)."""
    viewer = getattr(request.state, "viewer", None)
    chosen = viewer.session.language if viewer is not None else None
    return i18n.negotiate(
        chosen or request.cookies.get(COOKIE), request.headers.get("accept-language")
    )


def current() -> str:
    """The language the request being answered asked for in its headers (English outside
    one)."""
    return _current.get()


def keep(request: Request, response: Response, language: str) -> None:
    """Remember `language` in the browser: the pages before signing in (and after signing out)
    are in it too."""
    response.set_cookie(
        COOKIE,
        language,
        max_age=COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        secure=sessions.cookie_secure(request.app.state.settings),
        httponly=True,
        samesite="lax",
    )


class ConsoleLanguage:
    """Names the language of a console request from its headers before anything else of the
    console runs (console/csrf.py's refusal page is rendered in it)."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self._app = app
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        token = _current.set(_of_headers(scope))
        try:
            await self._app(scope, receive, send)
        finally:
            _current.reset(token)


def _of_headers(scope: Scope) -> str:
    chosen: str | None = None
    accept: str | None = None
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            chosen = cookie_parser(value.decode("latin-1")).get(COOKIE) or chosen
        elif name == b"accept-language":
            accept = value.decode("latin-1")
    return i18n.negotiate(chosen, accept)
