"""Signing in (email and password, then the authenticator's code when the person has one),
signing out, and the invitation link where a new person sets their password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from application import sessions
from application.errors import Failure
from console.auth import Svc, clear_session_cookie, session_token, set_session_cookie
from console.csrf import forget_csrf_cookie
from console.errors import FormErrors
from console.language import N_
from console.routing import ConsoleRoute
from console.web import only_console, redirect, render

router = APIRouter(route_class=ConsoleRoute)

Text = Annotated[str, Form(max_length=1000)]


_next = only_console  # never another site (an open redirect)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/console/sign-in")
async def sign_in_page(request: Request, next: str | None = None, ended: bool = False) -> Response:
    notice = N_("Your session has ended. Sign in again.") if ended else None
    if request.query_params.get("signed_out"):
        notice = N_("You are signed out.")
    return render(request, "sign_in.html", {"next": _next(next), "notice": notice})


@router.post("/console/sign-in")
async def sign_in(
    request: Request,
    svc: Svc,
    email: Text = "",
    password: Text = "",
    next: Text = "/console/",
) -> Response:
    errors = FormErrors()
    if not email.strip():
        errors.add("email", N_("Enter your email address."))
    if not password:
        errors.add("password", N_("Enter your password."))
    if not errors:
        try:
            signed_in = await sessions.sign_in(svc, email, password, client=_client(request))
        except Failure as failure:
            errors = FormErrors.of(failure, ("email", "password"))
        else:
            target = (
                f"/console/sign-in/code?next={_next(next)}" if signed_in.needs_code else _next(next)
            )
            response = redirect(request, target)
            set_session_cookie(request, response, signed_in)
            forget_csrf_cookie(request, response)
            return response
    context = {"next": _next(next), "email": email, "errors": errors}
    return render(request, "sign_in.html", context, status_code=_status(errors))


@router.get("/console/sign-in/code")
async def code_page(request: Request, next: str | None = None) -> Response:
    if not session_token(request):
        return redirect(request, "/console/sign-in")
    return render(request, "sign_in_code.html", {"next": _next(next)})


@router.post("/console/sign-in/code")
async def code(
    request: Request, svc: Svc, verification_code: Text = "", next: Text = "/console/"
) -> Response:
    token = session_token(request)
    if not token:
        return redirect(request, "/console/sign-in")
    errors = FormErrors()
    if not verification_code.strip():
        errors.add("verification_code", N_("Enter the code from your authenticator app."))
    else:
        try:
            await sessions.complete_sign_in(svc, token, verification_code)
        except Failure as failure:
            errors = FormErrors.of(failure, ("verification_code",))
        else:
            return redirect(request, _next(next))
    context = {"next": _next(next), "errors": errors}
    return render(request, "sign_in_code.html", context, status_code=_status(errors))


@router.post("/console/sign-out")
async def sign_out(request: Request, svc: Svc) -> Response:
    if token := session_token(request):
        await sessions.sign_out(svc, token)
    response = redirect(request, "/console/sign-in?signed_out=1")
    clear_session_cookie(request, response)
    forget_csrf_cookie(request, response)
    return response


@router.get("/console/invitation/{token}")
async def invitation_page(request: Request, svc: Svc, token: str) -> Response:
    invitee = await sessions.invitation(svc, token)
    return render(
        request, "invitation.html", {"invitee": invitee}, status_code=200 if invitee else 404
    )


@router.post("/console/invitation/{token}")
async def accept_invitation(
    request: Request, svc: Svc, token: str, password: Text = "", password_again: Text = ""
) -> Response:
    invitee = await sessions.invitation(svc, token)
    if invitee is None:
        return render(request, "invitation.html", {"invitee": None}, status_code=404)
    errors = FormErrors()
    if password != password_again:
        errors.add("password_again", N_("The two passwords are not the same."))
    else:
        try:
            signed_in = await sessions.accept_invitation(
                svc, token, password, client=_client(request)
            )
        except Failure as failure:
            errors = FormErrors.of(failure, ("password",))
        else:
            response = redirect(request, "/console/settings/mfa?welcome=1")
            set_session_cookie(request, response, signed_in)
            forget_csrf_cookie(request, response)
            return response
    context = {"invitee": invitee, "errors": errors}
    return render(request, "invitation.html", context, status_code=_status(errors))


def _status(errors: FormErrors) -> int:
    if errors.code in ("sign_in_locked", "rate_limited", "verification_locked"):
        return 429
    return 422 if errors else 200
