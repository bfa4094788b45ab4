"""The language switcher every page has (base.html): the person's own setting when they are
signed in, kept in the browser's cookie either way (signed out, it is the only place), then back
to the page it was chosen on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from application import sessions
from application.errors import Failure
from assocflow import i18n
from console import language
from console.auth import Svc, session_token
from console.errors import FormErrors
from console.routing import ConsoleRoute
from console.web import only_console, redirect, render
from domain.problems import ProblemCode

router = APIRouter(route_class=ConsoleRoute)


@router.post("/console/language")
async def choose_language(
    request: Request,
    svc: Svc,
    language_tag: Annotated[str, Form(alias="language", max_length=20)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console/",
) -> Response:
    try:
        await _remember(request, svc, language_tag)
    except Failure as failure:
        errors = FormErrors.of(failure)
        return render(request, "problem.html", {"errors": errors}, status_code=422)
    response = redirect(request, only_console(next))
    language.keep(request, response, language_tag)
    return response


async def _remember(request: Request, svc: Svc, tag: str) -> None:
    """The person's own setting, when a session is signed in; otherwise only the cookie will
    hold it. Checked here first, for words the page can say in its language."""
    if tag not in i18n.LANGUAGES:
        refusal = language.N_("Choose one of the languages offered.")
        raise Failure(ProblemCode.VALIDATION_ERROR, refusal)
    token = session_token(request)
    found = await sessions.session(svc, token) if token else None
    if found is not None:
        await sessions.set_language(svc, found.person_id, tag)
