"""Association type change checks, requests and decisions (SPEC v3): parse, call the use case,
render. The same use cases as disassociations, given the kind."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from api.deps import App, Party
from api.pages import page_response
from api.schemas import (
    AgreeBody,
    Limit,
    Page,
    RejectBody,
    TypeChangeBody,
    TypeChangeCheckBody,
    TypeChangeRequest,
    WithdrawBody,
)
from application import requests
from domain.types import CheckResult, DecisionAction, RequestKind, RequestStatus, Side

router = APIRouter(tags=["type_changes"])
KIND = RequestKind.TYPE_CHANGE


@router.post("/v1/type-change-checks", response_model=CheckResult, operation_id="checkTypeChange")
async def check(body: TypeChangeCheckBody, who: Party, app: App) -> CheckResult:
    """Run the check of a type change to `new_type` on its own, so that failed items can be
    fixed before submitting."""
    return await requests.check(app, who, KIND, body.association_id, body.new_type)


@router.post(
    "/v1/type-changes",
    status_code=201,
    response_model=TypeChangeRequest,
    operation_id="submitTypeChange",
)
async def submit(
    body: TypeChangeBody,
    who: Party,
    app: App,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TypeChangeRequest:
    """Ask to change an association's type to `new_type`; the counterpart agrees or rejects by
    `respond_by`, and on the deadline the request expires. The account check runs first: a pending request or the
    request limit is 409 (`request_pending`, `request_limit_reached` with `next_allowed_at`), any
    other failed item 422 `check_failed` with the items, and nothing is stored. Accepted, the
    request is pending until the counterpart answers or `respond_by` passes. Send an
    `Idempotency-Key` to retry safely: a retry joins the first attempt's request."""
    request = await requests.submit(
        app,
        who,
        KIND,
        body.association_id,
        body.reason,
        new_type=body.new_type,
        verification_code=body.verification_code,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/v1/type-changes/{request.id}"
    return TypeChangeRequest.of(request)


@router.get(
    "/v1/type-changes",
    response_model=Page[TypeChangeRequest],
    operation_id="listTypeChanges",
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
    """Requests of the caller's associations, newest first, with filters; pages of `limit`
    with `cursor`."""
    rows, next_cursor = await requests.list_requests(
        app,
        who,
        KIND,
        status=status,
        association_id=association_id,
        customer_id=customer_id,
        initiator=initiator,
        limit=limit,
        cursor=cursor,
    )
    items = [TypeChangeRequest.of(row) for row in rows]
    return page_response(Page[TypeChangeRequest](items=items, next_cursor=next_cursor))


@router.get(
    "/v1/type-changes/{request_id}",
    response_model=TypeChangeRequest,
    operation_id="getTypeChange",
)
async def get_request(request_id: UUID, who: Party, app: App) -> TypeChangeRequest:
    """One request and its state; an id the caller cannot see is 404."""
    return TypeChangeRequest.of(await requests.get(app, who, KIND, request_id))


@router.post(
    "/v1/type-changes/{request_id}/agree",
    response_model=TypeChangeRequest,
    operation_id="agreeTypeChange",
)
async def agree(
    request_id: UUID, who: Party, app: App, body: AgreeBody | None = None
) -> TypeChangeRequest:
    """The counterpart agrees (a reason is optional): the association's type changes. A request that is
    no longer pending is 409 `not_pending` with its `request_status`; anyone but the
    counterpart gets 403."""
    body = body or AgreeBody()
    agreed = await requests.decide(
        app, who, KIND, request_id, DecisionAction.AGREE, body.reason,
        verification_code=body.verification_code,
    )  # fmt: skip
    return TypeChangeRequest.of(agreed)


@router.post(
    "/v1/type-changes/{request_id}/reject",
    response_model=TypeChangeRequest,
    operation_id="rejectTypeChange",
)
async def reject(request_id: UUID, body: RejectBody, who: Party, app: App) -> TypeChangeRequest:
    """The counterpart rejects, with a reason: the association keeps its type. A request that is
    no longer pending is 409 `not_pending` with its `request_status`."""
    rejected = await requests.decide(
        app, who, KIND, request_id, DecisionAction.REJECT, body.reason,
        verification_code=body.verification_code,
    )  # fmt: skip
    return TypeChangeRequest.of(rejected)


@router.post(
    "/v1/type-changes/{request_id}/withdraw",
    response_model=TypeChangeRequest,
    operation_id="withdrawTypeChange",
)
async def withdraw(
    request_id: UUID, who: Party, app: App, body: WithdrawBody | None = None
) -> TypeChangeRequest:
    """The initiator withdraws a pending request: the association keeps its type."""
    reason = body.reason if body else None
    withdrawn = await requests.decide(app, who, KIND, request_id, DecisionAction.WITHDRAW, reason)
    return TypeChangeRequest.of(withdrawn)
