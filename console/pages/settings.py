"""Settings: whether the account requires verification (and lets service tokens through), the
person's own authenticator (enrol with a QR code, confirm, recovery codes shown once), and the
account's webhook endpoints with their delivery log. Everyone has the page for their own
authenticator; the account's settings and webhooks are shown to its admins only (the use cases
refuse the others)."""

from __future__ import annotations

from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from application import account, mfa, webhooks
from application.errors import Failure
from assocflow import i18n
from console.auth import SignedInViewer, Svc, Viewer
from console.errors import FormErrors
from console.language import N_
from console.routing import ConsoleRoute
from console.web import redirect, render
from domain.types import EVENT_TYPES, EventType
from store.rows import AccountLanguage

router = APIRouter(route_class=ConsoleRoute)

Code = Annotated[str, Form(max_length=64)]
# The events an endpoint may ask for (verification codes are no longer sent anywhere).
OFFERED_EVENTS = tuple(e for e in EVENT_TYPES if e != "verification.code")
SAVED = {
    "settings": N_("Settings saved."),
    "language": N_("From now on, the account's messages are written in this language."),
    "deleted": N_("The endpoint is removed."),
}


@router.get("/console/settings")
async def settings_page(
    request: Request, svc: Svc, viewer: SignedInViewer, saved: str | None = None
) -> Response:
    return await _settings(request, svc, viewer, FormErrors(), notice=SAVED.get(saved or ""))


@router.post("/console/settings")
async def save_settings(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    verification_required: Annotated[str, Form(max_length=10)] = "",
    service_tokens_may_decide: Annotated[str, Form(max_length=10)] = "",
    verification_code: Code = "",
) -> Response:
    try:
        await account.update_settings(
            svc,
            viewer.who,
            verification_required=verification_required == "on",
            service_tokens_may_decide=service_tokens_may_decide == "on",
            verification_code=verification_code.strip() or None,
        )
    except Failure as failure:
        errors = FormErrors.of(failure, ("verification_code",))
        return await _settings(request, svc, viewer, errors, status_code=422)
    return redirect(request, "/console/settings?saved=settings")


@router.post("/console/settings/language")
async def save_language(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    language_tag: Annotated[str, Form(alias="language", max_length=20)] = "",
) -> Response:
    """The language the account's messages are written in (its admins'): those written from now
    on; a message keeps the language it was written in."""
    if language_tag not in i18n.LANGUAGES:
        errors = FormErrors()
        errors.add("language", N_("Choose one of the languages offered."))
        return await _settings(request, svc, viewer, errors, status_code=422)
    await account.update_settings(svc, viewer.who, language=cast(AccountLanguage, language_tag))
    return redirect(request, "/console/settings?saved=language")


async def _settings(
    request: Request,
    svc: Svc,
    viewer: Viewer,
    errors: FormErrors,
    *,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    # The account's settings and webhooks are its admins' to read; everyone has their own
    # authenticator, and their session says whether their account requires verification.
    manages = viewer.may_manage
    context = {
        "nav": "settings",
        "settings": await account.get_settings(svc, viewer.who) if manages else None,
        "mfa": await mfa.status(svc, viewer.who),
        "endpoints": await webhooks.list_endpoints(svc, viewer.who) if manages else [],
        "errors": errors,
        "notice": notice,
        "event_types": OFFERED_EVENTS,
        "account_languages": list(i18n.LANGUAGES.items()),
    }
    return render(request, "settings.html", context, status_code=status_code)


@router.get("/console/settings/mfa")
async def mfa_page(
    request: Request, svc: Svc, viewer: SignedInViewer, welcome: bool = False
) -> Response:
    context = {"nav": "settings", "mfa": await mfa.status(svc, viewer.who), "welcome": welcome}
    return render(request, "mfa.html", context)


@router.post("/console/settings/mfa")
async def begin_enrolment(request: Request, svc: Svc, viewer: SignedInViewer) -> Response:
    """A new secret, shown once as a QR code (and its URI); a first code confirms it."""
    enrolment = await mfa.begin_enrolment(svc, viewer.who)
    context = {"nav": "settings", "enrolment": enrolment, "errors": FormErrors()}
    return render(request, "mfa_enrol.html", context)


@router.post("/console/settings/mfa/confirm")
async def confirm_enrolment(
    request: Request, svc: Svc, viewer: SignedInViewer, verification_code: Code = ""
) -> Response:
    try:
        codes = await mfa.confirm_enrolment(svc, viewer.who, verification_code)
    except Failure as failure:
        errors = FormErrors.of(failure, ("verification_code",))
        context = {"nav": "settings", "enrolment": None, "errors": errors}
        context["page_url"] = "/console/settings/mfa"  # the enrolment anew
        return render(request, "mfa_enrol.html", context, status_code=422)
    shown: dict[str, Any] = {"nav": "settings", "codes": codes, "shown_once": True}
    return render(request, "mfa_recovery_codes.html", shown)


@router.post("/console/settings/webhooks")
async def add_endpoint(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    url: Annotated[str, Form(max_length=2048)] = "",
    description: Annotated[str, Form(max_length=200)] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> Response:
    errors = FormErrors()
    wanted = cast(list[EventType], [e for e in event_types or [] if e in OFFERED_EVENTS]) or None
    if not url.strip():
        errors.add("url", N_("Enter the address that receives the events (https://…)."))
    else:
        try:
            endpoint, secret = await webhooks.create_endpoint(
                svc, viewer.who, url.strip(), description.strip() or None, wanted
            )
        except Failure as failure:
            errors = FormErrors.of(failure, ("url",))
        else:
            context = {"nav": "settings", "endpoint": endpoint, "secret": secret}
            context["shown_once"] = True
            return render(request, "webhook_created.html", context)
    return await _settings(request, svc, viewer, errors, status_code=422)


@router.post("/console/settings/webhooks/{endpoint_id}/delete")
async def delete_endpoint(
    request: Request, svc: Svc, viewer: SignedInViewer, endpoint_id: UUID
) -> Response:
    await webhooks.delete_endpoint(svc, viewer.who, endpoint_id)
    return redirect(request, "/console/settings?saved=deleted")


@router.get("/console/settings/webhooks/{endpoint_id}")
async def deliveries(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    endpoint_id: UUID,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    endpoint = await webhooks.get_endpoint(svc, viewer.who, endpoint_id)
    rows, next_cursor = await webhooks.list_deliveries(
        svc, viewer.who, endpoint_id, limit=20, cursor=cursor
    )
    context = {"nav": "settings", "endpoint": endpoint, "rows": rows, "next_cursor": next_cursor}
    return render(request, "webhook_deliveries.html", context)
