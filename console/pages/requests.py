"""A request's page, of either kind (both parties, what is asked, the reason, the timeline, what
the person may do) and the decisions: Agree, Reject (with a reason) and Withdraw, each with the
verification code when the account requires it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from application import overview, requests
from application.errors import Failure
from application.overview import RequestView
from console.auth import SignedInViewer, Svc, Viewer
from console.errors import FormErrors
from console.pages.records import TAB_OF_KIND
from console.routing import ConsoleRoute
from console.web import redirect, render, status_words, type_words
from domain import decisions
from domain.problems import ProblemCode
from domain.types import DecisionAction, RequestKind, reason_problem

router = APIRouter(route_class=ConsoleRoute)

# What the person is told after a decision, by the request's kind ({from_type} and {new_type}: a
# type change's types, in words).
DONE = {
    RequestKind.DISASSOCIATION: {
        "agree": "You agreed. The association has ended; both sides are told.",
        "reject": "You rejected the request. The association stays; both sides are told.",
        "withdraw": "You withdrew the request. The association stays.",
    },
    RequestKind.TYPE_CHANGE: {
        "agree": "You agreed. The association is now {new_type}; both sides are told.",
        "reject": "You rejected the request. The association's type stays {from_type}; both"
        " sides are told.",
        "withdraw": "You withdrew the request. The association's type stays {from_type}.",
    },
}
TITLES = {
    RequestKind.DISASSOCIATION: "Request to disassociate",
    RequestKind.TYPE_CHANGE: "Type change request",
}
SUBMITTED = (
    "The request has been submitted. After the other side completes the processing, you will be"
    " notified of the processing result at the first time. Please wait."
)


@router.get("/console/requests/{request_id}")
async def request_page(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    request_id: UUID,
    submitted: bool = False,
    done: str | None = None,
) -> Response:
    view = await overview.request(svc, viewer.who, request_id)
    notice = SUBMITTED if submitted else _done(view, done)
    return _page(request, viewer, view, notice=notice)


def _done(view: RequestView, action: str | None) -> str | None:
    r = view.request
    words = DONE[r.kind].get(action or "")
    return words and words.format(
        from_type=type_words(r.from_type), new_type=type_words(r.new_type)
    )


@router.get("/console/requests/{request_id}/live")
async def live_part(
    request: Request, svc: Svc, viewer: SignedInViewer, request_id: UUID
) -> Response:
    view = await overview.request(svc, viewer.who, request_id)
    return render(request, "_request_status.html", {"view": view})


@router.get("/console/requests/{request_id}/{action}")
async def decision_page(
    request: Request, svc: Svc, viewer: SignedInViewer, request_id: UUID, action: DecisionAction
) -> Response:
    view = await overview.request(svc, viewer.who, request_id)
    if action not in view.actions:
        return _page(request, viewer, view, errors=_not_now(view, action), status_code=409)
    return _decision(request, viewer, view, action, FormErrors())


@router.post("/console/requests/{request_id}/{action}")
async def decide(
    request: Request,
    svc: Svc,
    viewer: SignedInViewer,
    request_id: UUID,
    action: DecisionAction,
    reason: Annotated[str, Form(max_length=2000)] = "",
    verification_code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    view = await overview.request(svc, viewer.who, request_id)
    if action not in view.actions:
        # Sent twice (a double click, a reload), or the other side or the deadline came first.
        return _page(request, viewer, view, errors=_not_now(view, action), status_code=409)
    errors = FormErrors()
    if action is DecisionAction.REJECT and (problem := reason_problem(reason)):
        errors.add("reason", problem)
    needs_code = decisions.needs_verification(action) and viewer.who.verification_required
    if needs_code and not verification_code.strip():
        errors.add("verification_code", "Enter the code from your authenticator app.")
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
            )
        except Failure as failure:
            if failure.code == ProblemCode.NOT_PENDING:
                view = await overview.request(svc, viewer.who, request_id)
                return _page(request, viewer, view, errors=_not_now(view, action), status_code=409)
            errors = FormErrors.of(failure, ("reason", "verification_code"))
        else:
            return redirect(request, f"/console/requests/{request_id}?done={action.value}")
    return _decision(request, viewer, view, action, errors, reason=reason, status_code=422)


def _not_now(view: RequestView, action: DecisionAction) -> FormErrors:
    status = view.request.status
    if status.value == "pending":
        words = f"You cannot {action.value} this request."
    else:
        words = f"This request is no longer awaiting a response: {status_words(status).lower()}."
    return FormErrors(form=words, code=ProblemCode.NOT_PENDING)


def _page(
    request: Request,
    viewer: Viewer,
    view: RequestView,
    *,
    notice: str | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": "records",
        "view": view,
        "notice": notice,
        "errors": errors,
        "we_started": view.request.initiator is viewer.who.side,
        "title": TITLES[view.request.kind],
        "tab": TAB_OF_KIND[view.request.kind],
    }
    return render(request, "request.html", context, status_code=status_code)


def _decision(
    request: Request,
    viewer: Viewer,
    view: RequestView,
    action: DecisionAction,
    errors: FormErrors,
    *,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    context = {
        "nav": "records",
        "view": view,
        "action": action.value,
        "errors": errors,
        "reason": reason,
        "needs_code": decisions.needs_verification(action) and viewer.who.verification_required,
    }
    return render(request, "decision.html", context, status_code=status_code)
