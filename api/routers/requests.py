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

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

from api.deps import App, Operator, Party
from api.pages import page_response
from api.schemas import (
    AgreeBody,
    Body,
    CheckBody,
    Limit,
    Page,
    Reason,
    RejectBody,
    RequestOut,
    SubmitBody,
    WithdrawBody,
)
from application import requests
from domain.types import CheckResult, DecisionAction, RequestKind, RequestStatus, Side


class AdminAgreeBody(Body):
    reason: Reason | None = None


class AdminReasonBody(Body):
    reason: Reason


F = TypeVar("F", bound=Callable[..., Any])


def _body_as(model: type[BaseModel]) -> Callable[[F], F]:
    """FastAPI parses the endpoint's `body` as `model` (a subclass of what it is annotated with),
    and the OpenAPI document names `model`."""

    def retyped(endpoint: F) -> F:
        signature = inspect.signature(endpoint)
        parameters = [
            p.replace(annotation=model) if p.name == "body" else p
            for p in signature.parameters.values()
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
    model: type[RequestOut]
    check_body: type[CheckBody]
    submit_body: type[SubmitBody]
    # The documentation of each route, by operation (`check`, `submit`, `agree`, ...).
    docs: dict[str, str]


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
    async def check(body: CheckBody, who: Party, app: App) -> CheckResult:
        return await requests.check(app, who, kind, body.association_id, body.asked_type())

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
    ) -> RequestOut:
        request = await requests.submit(
            app, who, kind, body.association_id, body.reason,
            new_type=body.asked_type(), verification_code=body.verification_code,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        response.headers["Location"] = f"{collection}/{request.id}"
        return model.of(request)

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
        items = [model.of(row) for row in rows]
        return page_response(Page[model](items=items, next_cursor=next_cursor))  # type: ignore[valid-type]

    @router.get(
        f"{collection}/{{request_id}}",
        response_model=model,
        operation_id=f"get{name}",
        description=docs["get"],
    )
    async def get_request(request_id: UUID, who: Party, app: App) -> RequestOut:
        return model.of(await requests.get(app, who, kind, request_id))

    @router.post(
        f"{collection}/{{request_id}}/agree",
        response_model=model,
        operation_id=f"agree{name}",
        description=docs["agree"],
    )
    async def agree(
        request_id: UUID, who: Party, app: App, body: AgreeBody | None = None
    ) -> RequestOut:
        body = body or AgreeBody()
        agreed = await requests.decide(
            app, who, kind, request_id, DecisionAction.AGREE, body.reason,
            verification_code=body.verification_code,
        )  # fmt: skip
        return model.of(agreed)

    @router.post(
        f"{collection}/{{request_id}}/reject",
        response_model=model,
        operation_id=f"reject{name}",
        description=docs["reject"],
    )
    async def reject(request_id: UUID, body: RejectBody, who: Party, app: App) -> RequestOut:
        rejected = await requests.decide(
            app, who, kind, request_id, DecisionAction.REJECT, body.reason,
            verification_code=body.verification_code,
        )  # fmt: skip
        return model.of(rejected)

    @router.post(
        f"{collection}/{{request_id}}/withdraw",
        response_model=model,
        operation_id=f"withdraw{name}",
        description=docs["withdraw"],
    )
    async def withdraw(
        request_id: UUID, who: Party, app: App, body: WithdrawBody | None = None
    ) -> RequestOut:
        reason = body.reason if body else None
        return model.of(
            await requests.decide(app, who, kind, request_id, DecisionAction.WITHDRAW, reason)
        )

    return router


def operator_routes(resource: Resource) -> APIRouter:
    """The operators' routes: agree or reject for the counterpart, or cancel, under the name
    their token carries."""
    router = APIRouter(prefix=f"/v1/admin/{resource.collection}", tags=["admin"])
    kind, model, name, docs = resource.kind, resource.model, resource.name, resource.docs

    @router.post(
        "/{request_id}/agree",
        response_model=model,
        operation_id=f"agree{name}AsOperator",
        description=docs["agree_as_operator"],
    )
    async def agree(
        request_id: UUID, who: Operator, app: App, body: AdminAgreeBody | None = None
    ) -> RequestOut:
        reason = body.reason if body else None
        return model.of(
            await requests.decide(app, who, kind, request_id, DecisionAction.AGREE, reason)
        )

    @router.post(
        "/{request_id}/reject",
        response_model=model,
        operation_id=f"reject{name}AsOperator",
        description=docs["reject_as_operator"],
    )
    async def reject(
        request_id: UUID, body: AdminReasonBody, who: Operator, app: App
    ) -> RequestOut:
        return model.of(
            await requests.decide(app, who, kind, request_id, DecisionAction.REJECT, body.reason)
        )

    @router.post(
        "/{request_id}/cancel",
        response_model=model,
        operation_id=f"cancel{name}",
        description=docs["cancel"],
    )
    async def cancel(
        request_id: UUID, body: AdminReasonBody, who: Operator, app: App
    ) -> RequestOut:
        return model.of(
            await requests.decide(app, who, kind, request_id, DecisionAction.CANCEL, body.reason)
        )

    return router
