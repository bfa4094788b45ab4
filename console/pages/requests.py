"""A request's page, of any kind (its parties, what is asked, the reason, a partner change's two
consents, the timeline, what the person may do) and the decisions: Agree, Reject (with a reason)
and Withdraw; a partner change's new partner's Accept (choosing the association type) and Decline
(with a reason); each answer with the verification code when the account requires it."""

from __future__ import annotations

from typing import Annotated, Self
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from application import requests
from application.errors import Failure
from console.auth import RefreshingViewer, SignedInViewer, Svc, Viewer
from console.errors import FormErrors
from console.language import N_, Words
from console.pages.records import TAB_OF_KIND
from console.routing import ConsoleRoute
from console.views import Shown, current_type, request_view
from console.web import ASSOCIATION_TYPE_WORDS, redirect, render, status_words, type_words
from domain import decisions, kinds
from domain.problems import ProblemCode
from domain.types import AssociationType, DecisionAction, Party, RequestKind, reason_problem

router = APIRouter(route_class=ConsoleRoute)

# What the person is told after a decision, by the request's kind, and by the action and the
# status it left the request in where that matters ("accept:completed"); {from_type} and
# {new_type}: a type change's types, or the type a partner change's new partner chose, in words;
# {customer}, {partner} and {new_partner}: the names.
DONE = {
    RequestKind.DISASSOCIATION: {
        "agree": N_("You agreed. The association has ended; both sides are told."),
        "reject": N_("You rejected the request. The association stays; both sides are told."),
        "withdraw": N_("You withdrew the request. The association stays."),
    },
    RequestKind.TYPE_CHANGE: {
        "agree": N_("You agreed. The association is now {new_type}; both sides are told."),
        "reject": N_(
            "You rejected the request. The association's type stays {from_type}; both"
            " sides are told."
        ),
        "withdraw": N_("You withdrew the request. The association's type stays {from_type}."),
    },
    RequestKind.PARTNER_CHANGE: {
        "agree": N_(
            "You agreed. {customer} moves to {new_partner} once {new_partner} accepts;"
            " everyone is told."
        ),
        "agree:completed": N_(
            "You agreed. {customer} has moved to {new_partner}: its association"
            " with you has ended. Everyone is told."
        ),
        "reject": N_("You rejected the request. {customer} stays with you; everyone is told."),
        "accept": N_(
            "You accepted. {customer} becomes your customer ({new_type}) once {partner}"
            " agrees, or when its time to answer runs out; everyone is told."
        ),
        "accept:completed": N_(
            "You accepted. {customer} is now your customer ({new_type}); everyone is told."
        ),
        "decline": N_("You declined. {customer} stays with {partner}; everyone is told."),
        "withdraw": N_("You withdrew the request. You stay with {partner}."),
    },
}
TITLES = {
    RequestKind.DISASSOCIATION: N_("Request to disassociate"),
    RequestKind.TYPE_CHANGE: N_("Type change request"),
    RequestKind.PARTNER_CHANGE: N_("Partner change request"),
}
SUBMITTED = {
    RequestKind.DISASSOCIATION: N_(
        "The request has been submitted. After the other side completes the processing, you"
        " will be notified of the processing result at the first time. Please wait."
    ),
    RequestKind.PARTNER_CHANGE: N_(
        "The request has been submitted. Both partners are asked to answer; once they have,"
        " you will be notified of the processing result at the first time. Please wait."
    ),
}
# What a decision's dialog is called, by its action.
DECISION_TITLES = {
    DecisionAction.AGREE: N_("Agree"),
    DecisionAction.REJECT: N_("Reject"),
    DecisionAction.WITHDRAW: N_("Withdraw"),
    DecisionAction.ACCEPT: N_("Accept"),
    DecisionAction.DECLINE: N_("Decline"),
}
# An action mid-sentence ("You cannot withdraw this request."): any an address may name.
ACTION_WORDS = {
    DecisionAction.AGREE: N_("agree"),
    DecisionAction.REJECT: N_("reject"),
    DecisionAction.WITHDRAW: N_("withdraw"),
    DecisionAction.CANCEL: N_("cancel"),
    DecisionAction.TIMEOUT: N_("timeout"),
    DecisionAction.ACCEPT: N_("accept"),
    DecisionAction.DECLINE: N_("decline"),
}
CHOOSE_THE_TYPE = N_("Choose the association type.")
ENTER_THE_CODE = N_("Enter the code from your authenticator app.")


@router.get("/console/requests/{request_id}")
async def request_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    request_id: UUID,
    submitted: bool = False,
    done: str | None = None,
) -> Response:
    view = await request_view(svc, viewer.who, request_id)
    notice = _submitted(view) if submitted else _done(view, done)
    return _page(request, viewer, view, notice=notice)


def _submitted(view: Shown) -> Words:
    return SUBMITTED.get(view.request.kind) or SUBMITTED[RequestKind.DISASSOCIATION]


def _done(view: Shown, action: str | None) -> Words | None:
    r = view.request
    said = DONE[r.kind]
    words = said.get(f"{action}:{r.status.value}") or said.get(action or "")
    if words is None:
        return None
    chosen = r.new_partner_decision.association_type if r.new_partner_decision else None
    return Words(
        words.msgid,
        from_type=type_words(r.from_type),
        new_type=type_words(r.new_type or chosen),
        customer=r.customer,
        partner=r.partner,
        new_partner=view.new_partner,
    )


@router.get("/console/requests/{request_id}/live")
async def live_status(
    request: Request, svc: Svc, viewer: RefreshingViewer, request_id: UUID
) -> Response:
    """The inside of the request's status region (_request_status.html), as the page refreshes
    it: its status, consents and what the person may do now."""
    return await _live_part(request, svc, viewer, request_id, "_live_request_status.html")


@router.get("/console/requests/{request_id}/timeline")
async def live_timeline(
    request: Request, svc: Svc, viewer: RefreshingViewer, request_id: UUID
) -> Response:
    """The inside of the request page's timeline region, as the page refreshes it."""
    return await _live_part(request, svc, viewer, request_id, "_live_request_timeline.html")


async def _live_part(
    request: Request, svc: Svc, viewer: Viewer, request_id: UUID, template: str
) -> Response:
    """A part of the request's page rendered alone, from the partial the page includes."""
    view = await request_view(svc, viewer.who, request_id)
    return render(request, template, {"view": view})


@router.get("/console/requests/{request_id}/{action}")
async def decision_page(
    request: Request, svc: Svc, viewer: SignedInViewer, request_id: UUID, action: DecisionAction
) -> Response:
    view = await request_view(svc, viewer.who, request_id)
    if action not in view.actions:
        return _page(request, viewer, view, errors=_not_now(view, action), status_code=409)
    current = await _default_type(svc, view, action)
    return _decision(request, viewer, view, action, FormErrors(), chosen=current, current=current)


@router.post("/console/requests/{request_id}/{action}")
async def decide(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    request_id: UUID,
    action: DecisionAction,
    reason: Annotated[str, Form(max_length=2000)] = "",
    verification_code: Annotated[str, Form(max_length=64)] = "",
    association_type: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    view = await request_view(svc, viewer.who, request_id)
    if action not in view.actions:
        # Sent twice (a double click, a reload), or the other side or the deadline came first.
        return _page(request, viewer, view, errors=_not_now(view, action), status_code=409)
    errors = FormErrors()
    if _refuses(view, action) and (problem := reason_problem(reason)):
        errors.add("reason", problem)
    chosen = None
    if action is DecisionAction.ACCEPT:
        try:
            chosen = AssociationType(association_type)
        except ValueError:
            errors.add("association_type", CHOOSE_THE_TYPE)
    needs_code = decisions.needs_verification(action) and viewer.who.verification_required
    if needs_code and not verification_code.strip():
        errors.add("verification_code", ENTER_THE_CODE)
    if not errors:
        try:
            await requests.decide(
                svc,
                viewer.who,
                view.request.kind,
                request_id,
                action,
                reason.strip() or None,
                verification_code=verification_code.strip() or None,
                association_type=chosen,
            )
        except Failure as failure:
            if failure.code == ProblemCode.NOT_PENDING:
                view = await request_view(svc, viewer.who, request_id)
                return _page(request, viewer, view, errors=_not_now(view, action), status_code=409)
            errors = FormErrors.of(failure, DECISION_FIELDS)
        else:
            return redirect(request, f"/console/requests/{request_id}?done={action.value}")
    current = await _default_type(svc, view, action)
    return _decision(
        request, viewer, view, action, errors,
        reason=reason, chosen=chosen, current=current, status_code=422,
    )  # fmt: skip


# A decision's fields, beside which a refusal of the use case may be said.
DECISION_FIELDS = ("association_type", "reason", "verification_code")


def _refuses(view: Shown, action: DecisionAction) -> bool:
    """Whether `action` refuses what the request asks (a reject, a decline): it needs a reason."""
    consent = kinds.of(view.request.kind).consent_for(action)
    return consent is not None and action is consent.no


async def _default_type(svc: Svc, view: Shown, action: DecisionAction) -> AssociationType | None:
    """The type an acceptance keeps unless the new partner chooses another: the association's."""
    if action is not DecisionAction.ACCEPT:
        return None
    return current_type(view)


def _not_now(view: Shown, action: DecisionAction) -> FormErrors:
    status = view.request.status
    if status.value == "pending":
        words = N_("You cannot {action} this request.", action=ACTION_WORDS[action])
    else:
        words = N_(
            "This request is no longer awaiting a response: {status}.",
            status=_MidSentence(status_words(status)),
        )
    return FormErrors(form=words, code=ProblemCode.NOT_PENDING)


class _MidSentence(Words):
    """Words in the middle of a sentence, in any language: a status's "Rejected" as
    "rejected"."""

    def __new__(cls, words: str) -> Self:
        made = str.__new__(cls, _lower_first(words))
        made.msgid = words.msgid if isinstance(words, Words) else str(words)
        made.params = words.params if isinstance(words, Words) else {}
        return made

    def to(self, language: str) -> str:
        return _lower_first(super().to(language))


def _lower_first(words: str) -> str:
    return words[:1].lower() + words[1:]


def _page(
    request: Request,
    viewer: Viewer,
    view: Shown,
    *,
    notice: Words | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": _nav(view),
        "view": view,
        "notice": notice,
        "errors": errors,
        "we_started": view.request.initiator is viewer.who.side,
        "title": TITLES[view.request.kind],
        "tab": TAB_OF_KIND[view.request.kind],
    }
    return render(request, "request.html", context, status_code=status_code)


def _nav(view: Shown) -> str:
    """The new partner came to the request from its incoming customers; the others, from their
    records."""
    return "incoming" if view.party is Party.NEW_PARTNER else "records"


def _decision(
    request: Request,
    viewer: Viewer,
    view: Shown,
    action: DecisionAction,
    errors: FormErrors,
    *,
    reason: str = "",
    chosen: AssociationType | None = None,
    current: AssociationType | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": _nav(view),
        "view": view,
        "action": action.value,
        "title": DECISION_TITLES[action],
        "errors": errors,
        "reason": reason,
        "refuses": _refuses(view, action),
        "types": list(ASSOCIATION_TYPE_WORDS.items()),
        "chosen": chosen.value if chosen else "",
        "current": current.value if current else "",
        "needs_code": decisions.needs_verification(action) and viewer.who.verification_required,
    }
    return render(request, "decision.html", context, status_code=status_code)
