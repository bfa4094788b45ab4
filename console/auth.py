"""Who is signed in to the console: a session in PostgreSQL behind an HttpOnly cookie.

Each page's dependency loads the session (or sends the person to sign in), and what every page
shows of it: the person, their account's name, their unread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request, Response

from application import overview, sessions
from application.principal import Principal
from application.services import Services
from application.sessions import ConsoleSession, SignedIn
from console.routing import GoTo, SignInRequired

SESSION_COOKIE = "assocflow_session"
COOKIE_PATH = "/console"


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as pages show them."""

    session: ConsoleSession
    account_name: str
    unread: int

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
        """Settings and webhooks: a partner's admins, or a customer's people."""
        return self.who.kind == "customer" or self.who.admin


async def _session(request: Request, svc: Svc) -> ConsoleSession:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(expired=False)
    found = await sessions.session(svc, token)
    if found is None:
        raise SignInRequired(expired=True)
    who = found.principal
    structlog.contextvars.bind_contextvars(
        caller=who.ref, account=f"{who.account.kind}:{who.account.id}"
    )
    return found


# Where a person whose account requires verification may go before they set up an authenticator.
ENROLMENT_PAGES = ("/console/settings/mfa", "/console/sign-out")


async def viewer(
    request: Request, svc: Svc, session: Annotated[ConsoleSession, Depends(_session)]
) -> Viewer:
    if session.must_enrol and not request.url.path.startswith(ENROLMENT_PAGES):
        raise GoTo("/console/settings/mfa")
    found = Viewer(
        session=session,
        account_name=await overview.account_name(svc, session.principal),
        unread=await overview.unread(svc, session.principal),
    )
    request.state.viewer = found
    return found


SignedInViewer = Annotated[Viewer, Depends(viewer)]


def set_session_cookie(response: Response, signed_in: SignedIn, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        expires=signed_in.expires_at,
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax"
    )
