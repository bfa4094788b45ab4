"""Asking the other side for a change of the association — "Disassociate" and "Change type" — by
the flow the source document walks for Disassociate: the account check item by item (each failed
item with what to do, and "Check again"); the acknowledgement; the dialog with the reason (and the
verification code when the account requires it); Confirm; the request submitted.

Both kinds run this one flow; a `Flow` holds what differs: its address, its words, and that a type
change is checked for the type it asks for, so the person chooses the new type first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from application import overview, requests
from application.errors import Failure
from console.auth import SignedInViewer, Svc, Viewer
from console.errors import FormErrors
from console.routing import ConsoleRoute
from console.web import ASSOCIATION_TYPE_WORDS, redirect, render
from domain.problems import ProblemCode
from domain.types import AssociationType, CheckItem, RequestKind, reason_problem
from store.rows import AssociationOverview

router = APIRouter(route_class=ConsoleRoute)


@dataclass(frozen=True)
class Flow:
    kind: RequestKind
    # Its pages are /console/associations/{id}/{verb}[/reason].
    verb: str
    # The row action's name, the button that goes on after the check, and the dialog's title.
    action: str
    # The end of the acknowledgement "I understand the preceding statement and confirm to ...".
    confirms: str
    # Why a person who may not ask is refused.
    not_allowed: str

    @property
    def asks_type(self) -> bool:
        """A type change is checked for the type it asks for: the person chooses it first."""
        return self.kind is RequestKind.TYPE_CHANGE

    @property
    def collection(self) -> str:
        """Its form goes to /console/associations/{id}/{collection} (`type-changes`)."""
        return f"{self.kind.slug}s"

    def check_url(
        self, association_id: UUID, new_type: AssociationType | None, *, missing: bool = False
    ) -> str:
        params = {"new_type": new_type.value if new_type else None, "missing": missing or None}
        query = urlencode({key: value for key, value in params.items() if value})
        path = f"/console/associations/{association_id}/{self.verb}"
        return f"{path}?{query}" if query else path


FLOWS = (
    Flow(
        kind=RequestKind.DISASSOCIATION,
        verb="disassociate",
        action="Disassociate",
        confirms="disassociate",
        not_allowed="You may not ask to end this association.",
    ),
    Flow(
        kind=RequestKind.TYPE_CHANGE,
        verb="change-type",
        action="Change type",
        confirms="change the association type",
        not_allowed="You may not ask to change this association's type.",
    ),
)
_BY_VERB = {flow.verb: flow for flow in FLOWS}
_BY_COLLECTION = {flow.collection: flow for flow in FLOWS}


def _found(flow: Flow | None) -> Flow:
    if flow is None:  # an address under an association that is no flow's
        raise Failure(ProblemCode.NOT_FOUND, "There is no page at this address.")
    return flow


def _flow_of_verb(verb: str) -> Flow:
    return _found(_BY_VERB.get(verb))


def _flow_of_collection(collection: str) -> Flow:
    return _found(_BY_COLLECTION.get(collection))


AskFlow = Annotated[Flow, Depends(_flow_of_verb)]
SubmitFlow = Annotated[Flow, Depends(_flow_of_collection)]

ACKNOWLEDGEMENT_MISSING = "Select the checkbox to confirm that you understand the statement."
CHOOSE_THE_TYPE = "Choose the new type."
# A refused submit that sends the person back to the check: its items say what to do.
BACK_TO_THE_CHECK = (
    ProblemCode.CHECK_FAILED,
    ProblemCode.REQUEST_PENDING,
    ProblemCode.REQUEST_LIMIT_REACHED,
)
# The dialog's fields, beside which a refusal of the use case may be said.
DIALOG_FIELDS = ("new_type", "reason", "verification_code")

Text = Annotated[str, Form(max_length=2000)]
# A query's `new_type`: absent before the person chose one, empty if they sent none.
TypeParam = Annotated[str | None, Query(max_length=50)]


async def _association(
    svc: Svc, viewer: Viewer, flow: Flow, association_id: UUID
) -> AssociationOverview:
    found = await overview.association(svc, viewer.who, association_id)
    if not overview.may_ask(viewer.who, found, flow.kind):
        raise Failure(ProblemCode.FORBIDDEN, flow.not_allowed)
    return found


def _new_type(
    flow: Flow, text: str, errors: FormErrors, *, required: bool = False
) -> AssociationType | None:
    """The type a type change asks for; None for another kind, or when none is chosen (an error
    beside the field when one was `required`, or what was sent is no type)."""
    if not flow.asks_type:
        return None
    try:
        return AssociationType(text)
    except ValueError:
        if text or required:
            errors.add("new_type", CHOOSE_THE_TYPE)
        return None


@router.get("/console/associations/{association_id}/{verb}")
async def check_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    flow: AskFlow,
    association_id: UUID,
    new_type: TypeParam = None,
    missing: bool = False,
) -> Response:
    association = await _association(svc, viewer, flow, association_id)
    errors = FormErrors()
    chosen = _new_type(flow, new_type or "", errors, required=new_type is not None)
    if flow.asks_type and chosen is None:  # nothing to check yet: the chooser alone
        status_code = 422 if errors else 200
        return _check(request, flow, association, None, errors, status_code=status_code)
    if missing:
        errors.add("acknowledged", ACKNOWLEDGEMENT_MISSING)
    result = await requests.check(svc, viewer.who, flow.kind, association_id, chosen)
    checked = Checked(result.items, result.passed, chosen)
    return _check(request, flow, association, checked, errors)


@router.get("/console/associations/{association_id}/{verb}/reason")
async def reason_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    flow: AskFlow,
    association_id: UUID,
    acknowledged: str | None = None,
    new_type: TypeParam = None,
) -> Response:
    chosen = _new_type(flow, new_type or "", FormErrors())
    if acknowledged != "on" or (flow.asks_type and chosen is None):
        url = flow.check_url(association_id, chosen, missing=acknowledged != "on")
        return redirect(request, url)
    association = await _association(svc, viewer, flow, association_id)
    form = Dialog(reason="", new_type=chosen, form_id=uuid.uuid4())
    return _dialog(request, viewer, flow, association, form, FormErrors())


@router.post("/console/associations/{association_id}/{collection}")
async def submit(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    flow: SubmitFlow,
    association_id: UUID,
    form_id: Annotated[UUID, Form()],
    reason: Text = "",
    verification_code: Annotated[str, Form(max_length=64)] = "",
    acknowledged: Text = "",
    new_type: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    association = await _association(svc, viewer, flow, association_id)
    errors = FormErrors()
    form = Dialog(reason, _new_type(flow, new_type, errors, required=True), form_id)
    if acknowledged != "on":
        return redirect(request, flow.check_url(association_id, form.new_type, missing=True))
    if problem := reason_problem(reason):
        errors.add("reason", problem)
    if viewer.who.verification_required and not verification_code.strip():
        errors.add("verification_code", "Enter the code from your authenticator app.")
    if errors:
        return _dialog(request, viewer, flow, association, form, errors, status_code=422)
    try:
        submitted = await requests.submit(
            svc,
            viewer.who,
            flow.kind,
            association_id,
            reason.strip(),
            new_type=form.new_type,
            verification_code=verification_code.strip() or None,
            # The form's own id: sent twice (a double click, the back button), it is one request.
            idempotency_key=f"console:{form_id}",
        )
    except Failure as failure:
        return _refused(request, viewer, flow, association, form, failure)
    return redirect(request, f"/console/requests/{submitted.id}?submitted=1")


@dataclass(frozen=True)
class Checked:
    """An account check's result, for the type it was run for (a type change's)."""

    items: list[CheckItem]
    passed: bool
    new_type: AssociationType | None


@dataclass(frozen=True)
class Dialog:
    """What the dialog's form holds."""

    reason: str
    new_type: AssociationType | None
    form_id: UUID


def _refused(
    request: Request,
    viewer: Viewer,
    flow: Flow,
    association: AssociationOverview,
    form: Dialog,
    failure: Failure,
) -> Response:
    """A refused submit: back to the check when its items say what to do (a failed item, a
    request pending, the limit reached), else the dialog again with the words beside the field."""
    if failure.code not in BACK_TO_THE_CHECK:
        errors = FormErrors.of(failure, DIALOG_FIELDS)
        return _dialog(request, viewer, flow, association, form, errors, status_code=422)
    items = [CheckItem(**item) for item in failure.extra.get("items", [])]
    refused = FormErrors(form=failure.detail, code=failure.code)
    checked = Checked(items, False, form.new_type)
    return _check(request, flow, association, checked, refused, status_code=409)


def _nav(viewer: Viewer) -> str:
    return "customers" if viewer.is_partner else "partner"


def _other_types(association: AssociationOverview) -> list[tuple[str, str]]:
    """The types a type change may ask for (any but the association's own), with their words."""
    return [
        (kind.value, ASSOCIATION_TYPE_WORDS[kind.value])
        for kind in AssociationType
        if kind != association.association_type
    ]


def _check(
    request: Request,
    flow: Flow,
    association: AssociationOverview,
    checked: Checked | None,
    errors: FormErrors,
    *,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": _nav(request.state.viewer),
        "flow": flow,
        "a": association,
        "checked": checked,
        "passed": checked is not None and checked.passed and not errors.form,
        "new_type": checked.new_type.value if checked and checked.new_type else "",
        "other_types": _other_types(association),
        "errors": errors,
    }
    return render(request, "ask_check.html", context, status_code=status_code)


def _dialog(
    request: Request,
    viewer: Viewer,
    flow: Flow,
    association: AssociationOverview,
    form: Dialog,
    errors: FormErrors,
    *,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": _nav(viewer),
        "flow": flow,
        "a": association,
        "errors": errors,
        "reason": form.reason,
        "new_type": form.new_type.value if form.new_type else "",
        "other_types": _other_types(association),
        "back": flow.check_url(association.id, form.new_type),
        "form_id": form.form_id,
        "needs_code": viewer.who.verification_required,
    }
    return render(request, "ask_dialog.html", context, status_code=status_code)
