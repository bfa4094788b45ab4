"""Asking for a change of the association — "Disassociate", "Change type" and a customer's
"Change partner" — by the flow the source document walks for Disassociate: the account check item
by item (each failed item with what to do, and "Check again"); the acknowledgement; the dialog
with the reason (and the verification code when the account requires it); Confirm; the request
submitted.

Every kind runs this one flow; a `Flow` holds what differs: its address, its words, and what it is
checked for: a type change for the type it asks for, a partner change for the partner it moves
to, so the person gives that first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from application import overview, requests
from application.errors import Failure
from application.services import Services
from console.auth import SignedInViewer, Svc, Viewer
from console.errors import FormErrors
from console.language import N_, Words
from console.routing import ConsoleRoute
from console.views import names_of
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
    action: Words
    # The acknowledgement: "I understand the preceding statement and confirm to ...".
    confirms: Words
    # Why a person who may not ask is refused.
    not_allowed: Words
    # What the person gives before the check, by its field's name: the type a type change asks
    # for, the partner a partner change moves to; None for a flow checked for nothing more.
    asks: Literal["new_type", "new_partner_id"] | None = None
    # The words beside that field when it is left empty, and when what was sent is no choice.
    choose: Words = Words("")
    malformed: Words = Words("")

    @property
    def asks_type(self) -> bool:
        """A type change is checked for the type it asks for: the person chooses it first."""
        return self.asks == "new_type"

    @property
    def asks_partner(self) -> bool:
        """A partner change is checked for the partner it moves to: the person gives its id
        first."""
        return self.asks == "new_partner_id"

    @property
    def collection(self) -> str:
        """Its form goes to /console/associations/{id}/{collection} (`type-changes`)."""
        return f"{self.kind.slug}s"

    def check_url(self, association_id: UUID, chosen: str = "", *, missing: bool = False) -> str:
        """The check's page, for what was `chosen` (as it was sent)."""
        params = {self.asks or "": chosen or None, "missing": missing or None}
        query = urlencode({key: value for key, value in params.items() if key and value})
        path = f"/console/associations/{association_id}/{self.verb}"
        return f"{path}?{query}" if query else path

    def dialog_url(self, association_id: UUID, chosen: str = "") -> str:
        """The dialog's page, after the acknowledgement, for what was `chosen`."""
        params = {"acknowledged": "on", self.asks or "": chosen or None}
        query = urlencode({key: value for key, value in params.items() if key and value})
        return f"/console/associations/{association_id}/{self.verb}/reason?{query}"


FLOWS = (
    Flow(
        kind=RequestKind.DISASSOCIATION,
        verb="disassociate",
        action=N_("Disassociate"),
        confirms=N_("I understand the preceding statement and confirm to disassociate"),
        not_allowed=N_("You may not ask to end this association."),
    ),
    Flow(
        kind=RequestKind.TYPE_CHANGE,
        verb="change-type",
        action=N_("Change type"),
        confirms=N_(
            "I understand the preceding statement and confirm to change the association type"
        ),
        not_allowed=N_("You may not ask to change this association's type."),
        asks="new_type",
        choose=N_("Choose the new type."),
        malformed=N_("Choose the new type."),
    ),
    Flow(
        kind=RequestKind.PARTNER_CHANGE,
        verb="change-partner",
        action=N_("Change partner"),
        confirms=N_("I understand the preceding statement and confirm to change partner"),
        not_allowed=N_("You may not ask to move to another partner."),
        asks="new_partner_id",
        choose=N_("Enter the new partner's ID: the partner code your new partner gave you."),
        malformed=N_(
            "A partner ID looks like {example}: check the partner code your new partner gave you.",
            example="3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b",
        ),
    ),
)
_BY_VERB = {flow.verb: flow for flow in FLOWS}
_BY_COLLECTION = {flow.collection: flow for flow in FLOWS}


def _found(flow: Flow | None) -> Flow:
    if flow is None:  # an address under an association that is no flow's
        raise Failure(ProblemCode.NOT_FOUND, N_("There is no page at this address."))
    return flow


def _flow_of_verb(verb: str) -> Flow:
    return _found(_BY_VERB.get(verb))


def _flow_of_collection(collection: str) -> Flow:
    return _found(_BY_COLLECTION.get(collection))


AskFlow = Annotated[Flow, Depends(_flow_of_verb)]
SubmitFlow = Annotated[Flow, Depends(_flow_of_collection)]

ACKNOWLEDGEMENT_MISSING = N_("Select the checkbox to confirm that you understand the statement.")
# A refused submit that sends the person back to the check: its items say what to do.
BACK_TO_THE_CHECK = (
    ProblemCode.CHECK_FAILED,
    ProblemCode.REQUEST_PENDING,
    ProblemCode.REQUEST_LIMIT_REACHED,
)
# The dialog's fields, beside which a refusal of the use case may be said.
DIALOG_FIELDS = ("new_type", "reason", "verification_code")

Text = Annotated[str, Form(max_length=2000)]
# What a query says was chosen (`new_type`, `new_partner_id`): absent before the person chose,
# empty if they sent nothing. Long enough for anything pasted: what is no choice is said beside
# its field.
ChoiceParam = Annotated[str | None, Query(max_length=500)]
ChoiceField = Annotated[str, Form(max_length=500)]


@dataclass(frozen=True)
class Choice:
    """What the person gave before the check (nothing, for a flow that asks nothing): a type
    change's new type, a partner change's new partner (and its name, once it is known)."""

    new_type: AssociationType | None = None
    new_partner_id: UUID | None = None
    new_partner: str | None = None

    @property
    def sent(self) -> str:
        """As it goes in a URL or a form."""
        if self.new_type is not None:
            return self.new_type.value
        return str(self.new_partner_id) if self.new_partner_id else ""


async def _association(
    svc: Svc, viewer: Viewer, flow: Flow, association_id: UUID
) -> AssociationOverview:
    found = await overview.association(svc, viewer.who, association_id)
    if not overview.may_ask(viewer.who, found, flow.kind):
        raise Failure(ProblemCode.FORBIDDEN, flow.not_allowed)
    return found


def _chosen(flow: Flow, text: str, errors: FormErrors, *, required: bool = False) -> Choice | None:
    """What the person gave before the check: Choice() for a flow that asks nothing; None when
    nothing is chosen (an error beside the field when a choice was `required`, or what was sent is
    none: a type that is no type, an id that is no id)."""
    if flow.asks is None:
        return Choice()
    text = text.strip()
    try:
        if flow.asks_type:
            return Choice(new_type=AssociationType(text))
        return Choice(new_partner_id=UUID(text))
    except ValueError:
        if text:
            errors.add(flow.asks, flow.malformed)
        elif required:
            errors.add(flow.asks, flow.choose)
        return None


async def _named(svc: Services, chosen: Choice) -> Choice:
    """The choice with the name of the partner it moves to (that the check found)."""
    if chosen.new_partner_id is None:
        return chosen
    names = await names_of(svc, partners={chosen.new_partner_id})
    return replace(chosen, new_partner=names.get(chosen.new_partner_id))


def _sent(flow: Flow, new_type: str | None, new_partner_id: str | None) -> str | None:
    """What was sent for the flow's choice (None: nothing, not even an empty field)."""
    return {"new_type": new_type, "new_partner_id": new_partner_id}.get(flow.asks or "")


@router.get("/console/associations/{association_id}/{verb}")
async def check_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    flow: AskFlow,
    association_id: UUID,
    new_type: ChoiceParam = None,
    new_partner_id: ChoiceParam = None,
    missing: bool = False,
) -> Response:
    association = await _association(svc, viewer, flow, association_id)
    errors = FormErrors()
    sent = _sent(flow, new_type, new_partner_id)
    chosen = _chosen(flow, sent or "", errors, required=sent is not None)
    if chosen is None:  # nothing to check yet: the chooser alone
        status_code = 422 if errors else 200
        return _check(
            request, flow, association, None, errors, sent=sent or "", status_code=status_code
        )
    if missing:
        errors.add("acknowledged", ACKNOWLEDGEMENT_MISSING)
    result = await requests.check(
        svc, viewer.who, flow.kind, association_id, chosen.new_type, chosen.new_partner_id
    )
    if result.passed:
        chosen = await _named(svc, chosen)
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
    new_type: ChoiceParam = None,
    new_partner_id: ChoiceParam = None,
) -> Response:
    sent = _sent(flow, new_type, new_partner_id) or ""
    chosen = _chosen(flow, sent, FormErrors())
    if acknowledged != "on" or chosen is None:
        url = flow.check_url(association_id, sent, missing=acknowledged != "on")
        return redirect(request, url)
    association = await _association(svc, viewer, flow, association_id)
    form = Dialog(reason="", chosen=await _named(svc, chosen), form_id=uuid.uuid4())
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
    new_type: ChoiceField = "",
    new_partner_id: ChoiceField = "",
) -> Response:
    association = await _association(svc, viewer, flow, association_id)
    errors = FormErrors()
    sent = _sent(flow, new_type, new_partner_id) or ""
    chosen = _chosen(flow, sent, errors, required=True)
    if acknowledged != "on" or (chosen is None and flow.asks_partner):
        # The partner it moves to is checked before the dialog, and is not asked there again.
        return redirect(request, flow.check_url(association_id, sent, missing=acknowledged != "on"))
    form = Dialog(reason, await _named(svc, chosen) if chosen else None, form_id)
    if problem := reason_problem(reason):
        errors.add("reason", problem)
    if viewer.who.verification_required and not verification_code.strip():
        errors.add("verification_code", N_("Enter the code from your authenticator app."))
    if errors:
        return _dialog(request, viewer, flow, association, form, errors, status_code=422)
    try:
        submitted = await requests.submit(
            svc,
            viewer.who,
            flow.kind,
            association_id,
            reason.strip(),
            new_type=form.chosen.new_type if form.chosen else None,
            new_partner_id=form.chosen.new_partner_id if form.chosen else None,
            verification_code=verification_code.strip() or None,
            # The form's own id: sent twice (a double click, the back button), it is one request.
            idempotency_key=f"console:{form_id}",
        )
    except Failure as failure:
        return _refused(request, viewer, flow, association, form, failure)
    return redirect(request, f"/console/requests/{submitted.id}?submitted=1")


@dataclass(frozen=True)
class Checked:
    """An account check's result, for what it was run for (a type change's type, a partner
    change's partner)."""

    items: list[CheckItem]
    passed: bool
    chosen: Choice


@dataclass(frozen=True)
class Dialog:
    """What the dialog's form holds (`chosen` None: a type change's type not chosen)."""

    reason: str
    chosen: Choice | None
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
    checked = Checked(items, False, form.chosen or Choice())
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
    sent: str = "",
    status_code: int = 200,
) -> Response:
    chosen = checked.chosen if checked else Choice()
    context = {
        "nav": _nav(request.state.viewer),
        "flow": flow,
        "a": association,
        "checked": checked,
        "passed": checked is not None and checked.passed and not errors.form,
        "chosen": chosen,
        # What the chooser's field holds: the choice checked, or what was sent to be corrected
        # (an id; a type that is no type leaves the select to choose from).
        "value": chosen.sent or (sent if flow.asks_partner else ""),
        "new_type": chosen.new_type.value if chosen.new_type else "",
        "other_types": _other_types(association),
        "errors": errors,
    }
    if request.method != "GET":  # a refused submit: the language switcher comes back here
        context["page_url"] = flow.check_url(association.id, chosen.sent)
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
        "chosen": form.chosen or Choice(),
        "new_type": form.chosen.new_type.value if form.chosen and form.chosen.new_type else "",
        "other_types": _other_types(association),
        "back": flow.check_url(association.id, form.chosen.sent if form.chosen else ""),
        "form_id": form.form_id,
        "needs_code": viewer.who.verification_required,
        # The dialog anew (its form sent and refused, it is the page the switcher comes back to).
        "page_url": flow.dialog_url(association.id, form.chosen.sent if form.chosen else ""),
    }
    return render(request, "ask_dialog.html", context, status_code=status_code)
