"""The routes of a kind of request, made from its `Resource`: the check, the submit, the list and
one request, the parties' decisions, and the operators' (under /v1/admin). Every kind has the same
routes, parsed, called and rendered the same way, on the same use cases (application/requests.py);
a kind names its paths, its models and its words.

The routes read a body as the class every kind's bodies share; FastAPI parses it as the
resource's own (`_body_as`), so the OpenAPI document names each kind's model.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel

from api.deps import App, Operator, Party
from api.pages import page_response
from api.problems import language_of
from api.schemas import (
    AcceptBody,
    AgreeBody,
    Body,
    CheckBody,
    DecisionBody,
    DeclineBody,
    Limit,
    Page,
    Reason,
    RejectBody,
    RequestView,
    SubmitBody,
    WithdrawBody,
)
from application import requests
from assocflow import i18n
from domain.types import CheckResult, DecisionAction, RequestKind, RequestStatus, Side


class AdminAgreeBody(Body):
    reason: Reason | None = None


class AdminReasonBody(Body):
    reason: Reason


F = TypeVar("F", bound=Callable[..., Any])


def _body_as(model: type[BaseModel], *, optional: bool = False) -> Callable[[F], F]:
    """FastAPI parses the endpoint's `body` as `model` (what the endpoint reads it as, or its
    like), required unless `optional`; the OpenAPI document names `model`."""

    def retyped(endpoint: F) -> F:
        signature = inspect.signature(endpoint)
        body = (
            {"annotation": model | None, "default": None}
            if optional
            else {"annotation": model, "default": inspect.Parameter.empty}
        )
        parameters = [
            p.replace(**body) if p.name == "body" else p for p in signature.parameters.values()
        ]
        endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return endpoint

    return retyped


@dataclass(frozen=True)
class Resource:
    kind: RequestKind
    # `disassociations` → /v1/disassociations, /v1/disassociation-checks,
    # /v1/admin/disassociations.
    collection: str
    check_path: str
    tag: str
    # `Disassociation` → the operation ids checkDisassociation, submitDisassociation, ...
    name: str
    model: type[RequestView]
    check_body: type[CheckBody]
    submit_body: type[SubmitBody]
    # The documentation of each route, by operation (`check`, `submit`, `agree`, ...).
    docs: dict[str, str]
    # The decisions the parties take by a route of their own, and the operators'.
    party_actions: tuple[DecisionAction, ...] = (
        DecisionAction.AGREE,
        DecisionAction.REJECT,
        DecisionAction.WITHDRAW,
    )
    operator_actions: tuple[DecisionAction, ...] = (
        DecisionAction.AGREE,
        DecisionAction.REJECT,
        DecisionAction.CANCEL,
    )


def _in_language(result: CheckResult, language: str) -> CheckResult:
    """The check with each item's words in the caller's language (`Accept-Language`)."""
    items = [
        item.model_copy(update={"message": i18n.in_language(item.message, language)})
        for item in result.items
    ]
    return result.model_copy(update={"items": items})


def party_routes(resource: Resource) -> APIRouter:
    """The routes of the parties: check, submit, list, read, agree, reject, withdraw."""
    router = APIRouter(tags=[resource.tag])
    kind, model, name, docs = resource.kind, resource.model, resource.name, resource.docs
    collection = f"/v1/{resource.collection}"

    @router.post(
        f"/v1/{resource.check_path}",
        response_model=CheckResult,
        operation_id=f"check{name}",
        description=docs["check"],
    )
    @_body_as(resource.check_body)
    async def check(
        body: CheckBody, who: Party, app: App, request: Request, response: Response
    ) -> CheckResult:
        result = await requests.check(
            app, who, kind, body.association_id, body.asked_type(), body.asked_partner()
        )
        language = language_of(request.scope)
        response.headers.update({"Content-Language": language, "Vary": "Accept-Language"})
        return _in_language(result, language)

    @router.post(
        collection,
        status_code=201,
        response_model=model,
        operation_id=f"submit{name}",
        description=docs["submit"],
    )
    @_body_as(resource.submit_body)
    async def submit(
        body: SubmitBody,
        who: Party,
        app: App,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> RequestView:
        request = await requests.submit(
            app, who, kind, body.association_id, body.reason,
            new_type=body.asked_type(), new_partner_id=body.asked_partner(),
            verification_code=body.verification_code, idempotency_key=idempotency_key,
        )  # fmt: skip
        response.headers["Location"] = f"{collection}/{request.id}"
        return model.of(request, requests.reader_of(who, request))

    @router.get(
        collection,
        response_model=Page[model],  # type: ignore[valid-type]
        operation_id=f"list{name}s",
        description=docs["list"],
    )
    async def list_requests(
        who: Party,
        app: App,
        status: RequestStatus | None = None,
        association_id: UUID | None = None,
        customer_id: UUID | None = None,
        initiator: Side | None = None,
        limit: Limit = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        rows, next_cursor = await requests.list_requests(
            app, who, kind, status=status, association_id=association_id,
            customer_id=customer_id, initiator=initiator, limit=limit, cursor=cursor,
        )  # fmt: skip
        items = [model.of(row, requests.reader_of(who, row)) for row in rows]
        return page_response(Page[model](items=items, next_cursor=next_cursor))  # type: ignore[valid-type]

    @router.get(
        f"{collection}/{{request_id}}",
        response_model=model,
        operation_id=f"get{name}",
        description=docs["get"],
    )
    async def get_request(request_id: UUID, who: Party, app: App) -> RequestView:
        request = await requests.get(app, who, kind, request_id)
        return model.of(request, requests.reader_of(who, request))

    for action in resource.party_actions:
        _party_decision(router, resource, action)
    return router


# Each decision's body, and whether it may be left out.
PARTY_BODIES: dict[DecisionAction, tuple[type[BaseModel], bool]] = {
    DecisionAction.AGREE: (AgreeBody, True),
    DecisionAction.REJECT: (RejectBody, False),
    DecisionAction.ACCEPT: (AcceptBody, True),
    DecisionAction.DECLINE: (DeclineBody, False),
    DecisionAction.WITHDRAW: (WithdrawBody, True),
}
OPERATOR_BODIES: dict[DecisionAction, tuple[type[BaseModel], bool]] = {
    DecisionAction.AGREE: (AdminAgreeBody, True),
    DecisionAction.REJECT: (AdminReasonBody, False),
    DecisionAction.CANCEL: (AdminReasonBody, False),
}


def _party_decision(router: APIRouter, resource: Resource, action: DecisionAction) -> None:
    kind, model = resource.kind, resource.model
    body_model, optional = PARTY_BODIES[action]

    @router.post(
        f"/v1/{resource.collection}/{{request_id}}/{action.value}",
        response_model=model,
        operation_id=f"{action.value}{resource.name}",
        description=resource.docs[action.value],
    )
    @_body_as(body_model, optional=optional)
    async def decide(
        request_id: UUID, who: Party, app: App, body: DecisionBody | None = None
    ) -> RequestView:
        said = body or DecisionBody()
        decided = await requests.decide(
            app, who, kind, request_id, action, said.reason,
            verification_code=said.verification_code, association_type=said.chosen_type(),
        )  # fmt: skip
        return model.of(decided, requests.reader_of(who, decided))


def operator_routes(resource: Resource) -> APIRouter:
    """The operators' routes: agree or reject for the counterpart, or cancel, under the name
    their token carries."""
    router = APIRouter(prefix=f"/v1/admin/{resource.collection}", tags=["admin"])

    for action in resource.operator_actions:
        _operator_decision(router, resource, action)
    return router


# The operators' routes by action: their operation ids and documentation.
_AS_OPERATOR = {
    DecisionAction.AGREE: ("agree{}AsOperator", "agree_as_operator"),
    DecisionAction.REJECT: ("reject{}AsOperator", "reject_as_operator"),
    DecisionAction.CANCEL: ("cancel{}", "cancel"),
}


def _operator_decision(router: APIRouter, resource: Resource, action: DecisionAction) -> None:
    kind, model = resource.kind, resource.model
    body_model, optional = OPERATOR_BODIES[action]
    operation, doc = _AS_OPERATOR[action]

    @router.post(
        f"/{{request_id}}/{action.value}",
        response_model=model,
        operation_id=operation.format(resource.name),
        description=resource.docs[doc],
    )
    @_body_as(body_model, optional=optional)
    async def decide(
        request_id: UUID, who: Operator, app: App, body: AdminAgreeBody | None = None
    ) -> RequestView:
        reason = body.reason if body else None
        return model.of(await requests.decide(app, who, kind, request_id, action, reason))
