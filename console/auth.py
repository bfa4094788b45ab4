"""Who is signed in to the console: a session in PostgreSQL behind an HttpOnly cookie.

Each page's dependency loads the session (or sends the person to sign in), and what every page
shows of it: the person, their account's name, their unread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request, Response

from application import sessions
from application.principal import Principal
from application.services import Services
from application.sessions import ConsoleSession, SignedIn
from console.routing import GoTo, SignInRequired

SESSION_COOKIE = "assocflow_session"
# Under https the `__Host-` prefix makes browsers refuse the cookie unless it is Secure, for this
# host only and for the whole site: no other subdomain can plant or overwrite it.
SECURE_SESSION_COOKIE = "__Host-assocflow_session"
COOKIE_PATH = "/console"


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]


# The badge shows the unread count up to here, and more as "99+".
BADGE_MAX = sessions.UNREAD_COUNTED_UP_TO - 1


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as pages show them."""

    session: ConsoleSession

    @property
    def account_name(self) -> str:
        return self.session.account_name

    @property
    def unread(self) -> int | None:
        """None: not the person's to know (no message center); BADGE_MAX + 1: more."""
        return self.session.unread

    @property
    def unread_beyond_badge(self) -> bool:
        return (self.unread or 0) > BADGE_MAX

    @property
    def badge_max(self) -> int:
        return BADGE_MAX

    @property
    def who(self) -> Principal:
        return self.session.principal

    @property
    def is_partner(self) -> bool:
        return self.who.kind == "partner_user"

    def may(self, permission: str) -> bool:
        return self.who.kind == "customer" or permission in self.who.permissions

    @property
    def may_manage(self) -> bool:
        """The account's settings and webhooks, to read or change: a partner's admins, or a
        customer's people (as the use cases judge)."""
        return self.who.runs_account

    @property
    def may_read_messages(self) -> bool:
        """The message center and its unread count (as the use cases judge)."""
        return self.who.reads_notifications


def secure_cookies(request: Request) -> bool:
    """Whether people reach the console by https (ASSOCFLOW_PUBLIC_URL): its cookies are then
    Secure and `__Host-` prefixed."""
    return sessions.cookie_secure(request.app.state.settings)


def _cookie(secure: bool) -> tuple[str, str]:
    """The session cookie's name and path."""
    return (SECURE_SESSION_COOKIE, "/") if secure else (SESSION_COOKIE, COOKIE_PATH)


def session_cookie(secure: bool) -> str:
    """The session cookie's name."""
    return _cookie(secure)[0]


def session_token(request: Request) -> str:
    """The session token the browser sent ("" when none)."""
    name, _ = _cookie(secure_cookies(request))
    return request.cookies.get(name, "")


async def _session(request: Request, svc: Svc) -> ConsoleSession:
    """A page the person opened: the session is in use."""
    return await _load_session(request, svc, touch=True)


async def _looked_at(request: Request, svc: Svc) -> ConsoleSession:
    """A page's own refresh (polling, or told by its event stream): not the person's doing, so
    it never keeps the session from going idle."""
    return await _load_session(request, svc, touch=False)


async def _load_session(request: Request, svc: Svc, *, touch: bool) -> ConsoleSession:
    token = session_token(request)
    if not token:
        raise SignInRequired(expired=False)
    found = await sessions.session(svc, token, touch=touch)
    if found is None:
        raise SignInRequired(expired=True)
    who = found.principal
    structlog.contextvars.bind_contextvars(
        caller=who.ref, account=f"{who.account.kind}:{who.account.id}"
    )
    return found


# Where a person whose account requires verification may go before they set up an authenticator.
ENROLMENT_PAGES = ("/console/settings/mfa", "/console/sign-out")


async def viewer(request: Request, session: Annotated[ConsoleSession, Depends(_session)]) -> Viewer:
    return _viewer(request, session)


async def refreshing_viewer(
    request: Request, session: Annotated[ConsoleSession, Depends(_looked_at)]
) -> Viewer:
    return _viewer(request, session)


def _viewer(request: Request, session: ConsoleSession) -> Viewer:
    if session.must_enrol and not request.url.path.startswith(ENROLMENT_PAGES):
        raise GoTo("/console/settings/mfa")
    found = Viewer(session)
    request.state.viewer = found
    return found


SignedInViewer = Annotated[Viewer, Depends(viewer)]
# For the parts a page refreshes by itself (the badge, a request's status).
RefreshingViewer = Annotated[Viewer, Depends(refreshing_viewer)]


def set_session_cookie(request: Request, response: Response, signed_in: SignedIn) -> None:
    """A browser-session cookie (no expiry of its own: it goes when the browser closes); the
    session's idle and absolute limits are kept on the server."""
    secure = secure_cookies(request)
    name, path = _cookie(secure)
    response.set_cookie(name, signed_in.token, path=path, secure=secure, httponly=True,
                        samesite="lax")  # fmt: skip


def clear_session_cookie(request: Request, response: Response) -> None:
    secure = secure_cookies(request)
    name, path = _cookie(secure)
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")
