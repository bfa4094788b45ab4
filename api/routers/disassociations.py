"""Disassociation checks, requests and decisions: parse, call the use case, render."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from api.deps import App, Party
from api.pages import page_response
from api.schemas import (
    AgreeBody,
    CheckBody,
    DisassociationRequest,
    Limit,
    Page,
    RejectBody,
    SubmitBody,
    WithdrawBody,
)
from application import requests
from domain.types import CheckResult, DecisionAction, RequestKind, RequestStatus, Side

router = APIRouter(tags=["disassociations"])
KIND = RequestKind.DISASSOCIATION


@router.post(
    "/v1/disassociation-checks", response_model=CheckResult, operation_id="checkDisassociation"
)
async def check(body: CheckBody, who: Party, app: App) -> CheckResult:
    """Run the account check on its own, so that failed items can be fixed before submitting."""
    return await requests.check(app, who, KIND, body.association_id)


@router.post(
    "/v1/disassociations",
    status_code=201,
    response_model=DisassociationRequest,
    operation_id="submitDisassociation",
)
async def submit(
    body: SubmitBody,
    who: Party,
    app: App,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> DisassociationRequest:
    """Ask to end an association. The account check runs first: a pending request or the
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
        verification_code=body.verification_code,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/v1/disassociations/{request.id}"
    return DisassociationRequest.of(request)


@router.get(
    "/v1/disassociations",
    response_model=Page[DisassociationRequest],
    operation_id="listDisassociations",
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
    items = [DisassociationRequest.of(row) for row in rows]
    return page_response(Page[DisassociationRequest](items=items, next_cursor=next_cursor))


@router.get(
    "/v1/disassociations/{request_id}",
    response_model=DisassociationRequest,
    operation_id="getDisassociation",
)
async def get_request(request_id: UUID, who: Party, app: App) -> DisassociationRequest:
    """One request and its state; an id the caller cannot see is 404."""
    return DisassociationRequest.of(await requests.get(app, who, KIND, request_id))


@router.post(
    "/v1/disassociations/{request_id}/agree",
    response_model=DisassociationRequest,
    operation_id="agreeDisassociation",
)
async def agree(
    request_id: UUID, who: Party, app: App, body: AgreeBody | None = None
) -> DisassociationRequest:
    """The counterpart agrees (a reason is optional): the association ends. A request that is
    no longer pending is 409 `not_pending` with its `request_status`; anyone but the
    counterpart gets 403."""
    body = body or AgreeBody()
    agreed = await requests.decide(
        app, who, KIND, request_id, DecisionAction.AGREE, body.reason,
        verification_code=body.verification_code,
    )  # fmt: skip
    return DisassociationRequest.of(agreed)


@router.post(
    "/v1/disassociations/{request_id}/reject",
    response_model=DisassociationRequest,
    operation_id="rejectDisassociation",
)
async def reject(request_id: UUID, body: RejectBody, who: Party, app: App) -> DisassociationRequest:
    """The counterpart rejects, with a reason: the association continues. A request that is
    no longer pending is 409 `not_pending` with its `request_status`."""
    rejected = await requests.decide(
        app, who, KIND, request_id, DecisionAction.REJECT, body.reason,
        verification_code=body.verification_code,
    )  # fmt: skip
    return DisassociationRequest.of(rejected)


@router.post(
    "/v1/disassociations/{request_id}/withdraw",
    response_model=DisassociationRequest,
    operation_id="withdrawDisassociation",
)
async def withdraw(
    request_id: UUID, who: Party, app: App, body: WithdrawBody | None = None
) -> DisassociationRequest:
    """The initiator withdraws a pending request: the association continues."""
    reason = body.reason if body else None
    withdrawn = await requests.decide(app, who, KIND, request_id, DecisionAction.WITHDRAW, reason)
    return DisassociationRequest.of(withdrawn)
