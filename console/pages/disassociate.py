"""The Disassociate flow, as the source document walks it: the account check item by item (each
failed item with what to do, and "Check again"); the acknowledgement; the dialog with the reason
(and the verification code when the account requires it); Confirm; the request submitted."""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from application import disassociations, overview
from application.errors import Failure
from console.auth import SignedInViewer, Svc, Viewer
from console.errors import FormErrors
from console.routing import ConsoleRoute
from console.web import redirect, render
from domain.problems import ProblemCode
from domain.types import CheckItem, reason_problem
from store.rows import AssociationOverview

router = APIRouter(route_class=ConsoleRoute)

ACKNOWLEDGEMENT_MISSING = "Select the checkbox to confirm that you understand the statement."
# A refused submit that sends the person back to the check: its items say what to do.
BACK_TO_THE_CHECK = (
    ProblemCode.CHECK_FAILED,
    ProblemCode.REQUEST_PENDING,
    ProblemCode.REQUEST_LIMIT_REACHED,
)

Text = Annotated[str, Form(max_length=2000)]


async def _association(svc: Svc, viewer: Viewer, association_id: UUID) -> AssociationOverview:
    found = await overview.association(svc, viewer.who, association_id)
    if not overview.may_disassociate(viewer.who, found):
        raise Failure(ProblemCode.FORBIDDEN, "You may not ask to end this association.")
    return found


@router.get("/console/associations/{association_id}/disassociate")
async def check_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    association_id: UUID,
    acknowledged: str | None = None,
    missing: bool = False,
) -> Response:
    association = await _association(svc, viewer, association_id)
    result = await disassociations.check(svc, viewer.who, association_id)
    errors = FormErrors()
    if missing:
        errors.add("acknowledged", ACKNOWLEDGEMENT_MISSING)
    return _check(request, association, result.items, result.passed, errors)


@router.get("/console/associations/{association_id}/disassociate/reason")
async def reason_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    association_id: UUID,
    acknowledged: str | None = None,
) -> Response:
    if acknowledged != "on":
        url = f"/console/associations/{association_id}/disassociate?missing=1"
        return redirect(request, url)
    association = await _association(svc, viewer, association_id)
    return _dialog(request, viewer, association, FormErrors(), reason="", form_id=uuid.uuid4())


@router.post("/console/associations/{association_id}/disassociations")
async def submit(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    association_id: UUID,
    form_id: Annotated[UUID, Form()],
    reason: Text = "",
    verification_code: Annotated[str, Form(max_length=64)] = "",
    acknowledged: Text = "",
) -> Response:
    association = await _association(svc, viewer, association_id)
    errors = FormErrors()
    if acknowledged != "on":
        return redirect(request, f"/console/associations/{association_id}/disassociate?missing=1")
    if problem := reason_problem(reason):
        errors.add("reason", problem)
    if viewer.who.verification_required and not verification_code.strip():
        errors.add("verification_code", "Enter the code from your authenticator app.")
    if not errors:
        try:
            submitted = await disassociations.submit(
                svc,
                viewer.who,
                association_id,
                reason.strip(),
                verification_code=verification_code.strip() or None,
                # The form's own id: sent twice (a double click, the back button), it is one request.
                idempotency_key=f"console:{form_id}",
            )
        except Failure as failure:
            if failure.code in BACK_TO_THE_CHECK:
                items = [CheckItem(**item) for item in failure.extra.get("items", [])]
                refused = FormErrors(form=failure.detail, code=failure.code)
                return _check(request, association, items, False, refused, status_code=409)
            errors = FormErrors.of(failure, ("reason", "verification_code"))
        else:
            return redirect(request, f"/console/requests/{submitted.id}?submitted=1")
    return _dialog(
        request, viewer, association, errors, reason=reason, form_id=form_id, status_code=422
    )


def _check(
    request: Request,
    association: AssociationOverview,
    items: list[CheckItem],
    passed: bool,
    errors: FormErrors,
    *,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": "customers" if request.state.viewer.is_partner else "partner",
        "a": association,
        "items": items,
        "passed": passed and not errors.form,
        "errors": errors,
    }
    return render(request, "disassociate_check.html", context, status_code=status_code)


def _dialog(
    request: Request,
    viewer: Viewer,
    association: AssociationOverview,
    errors: FormErrors,
    *,
    reason: str,
    form_id: UUID,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": "customers" if viewer.is_partner else "partner",
        "a": association,
        "errors": errors,
        "reason": reason,
        "form_id": form_id,
        "needs_code": viewer.who.verification_required,
    }
    return render(request, "disassociate_dialog.html", context, status_code=status_code)
