"""Disassociation checks, requests and decisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Header, Query, Response
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AppSettings, Conn, Party, Pool, Principal, Standing, Temporal
from api.guards import verified, within_rate
from api.pages import cursor_problem, page_response
from api.problems import Problem, forbidden, not_found
from api.schemas import AgreeBody, CheckBody, Limit, Page, RejectBody, SubmitBody, WithdrawBody
from assocflow import logs
from assocflow.metrics import SUBMISSIONS
from assocflow.settings import Settings
from domain.checks import evaluate
from domain.types import (
    Admission,
    CheckResult,
    Decision,
    DecisionAction,
    DisassociationRequest,
    Permission,
    RequestStatus,
    Side,
    SubmitCommand,
    workflow_id_for,
)
from store import associations, requests
from store.rows import NamedAssociation
from workflows import starter

log = logs.get(__name__)

router = APIRouter(tags=["disassociations"])

# Anyone with a part in the process may read requests.
READ_REQUESTS = (
    Permission.ASSOCIATIONS_READ,
    Permission.DISASSOCIATIONS_SUBMIT,
    Permission.DISASSOCIATIONS_PROCESS,
)

# How long a submit or a decision waits for the workflow before answering 503.
WORKFLOW_ANSWER_TIMEOUT = 30.0


async def _association_to_act_on(
    conn: Conn, who: Principal, association_id: UUID
) -> NamedAssociation:
    """The association (with the names the workflow shows), if the caller may start a request on
    it: 404 if it cannot see it, 403 if it sees it but is not one of its two parties or lacks the
    permission."""
    row = await associations.get_with_names(conn, association_id, scope=who.read_scope())
    if row is None:
        raise not_found("association")
    if not who.may_act_on(row.partner_id, row.customer_id):
        raise forbidden("Only the association's own partner or customer may request its end.")
    who.require(Permission.DISASSOCIATIONS_SUBMIT)
    return row


@router.post("/v1/disassociation-checks", response_model=CheckResult)
async def check(
    body: CheckBody, who: Party, conn: Conn, settings: AppSettings, standing: Standing
) -> CheckResult:
    """Run the account check on its own, so that failed items can be fixed before submitting."""
    row = await _association_to_act_on(conn, who, body.association_id)
    assert who.side is not None
    policy = settings.policy()
    now = datetime.now(UTC)
    found = await associations.check_facts(
        conn,
        row.id,
        who.side,
        await standing.standing(row.customer_id),
        as_of=now,
        window_months=policy.request_window_months,
    )
    assert found is not None
    return evaluate(who.side, found[1], policy, now)


# Request ids made from an Idempotency-Key live in a namespace of their own.
_REQUEST_IDS = UUID("5f0c36d2-8a53-4c8e-9a43-6f0b1d3c2a77")


def _request_id(who: Principal, idempotency_key: str | None) -> UUID:
    """A retry with the same Idempotency-Key names the same request, so that even a retry after
    the first attempt's answer was lost joins that request's workflow instead of starting one."""
    if idempotency_key is None:
        return uuid4()
    return uuid5(_REQUEST_IDS, f"{who.ref}:{idempotency_key}")


def _refusal(check_result: CheckResult) -> Problem:
    """The SPEC's precedence: a pending request, then the limit, then any other failed item."""
    if check_result.failed("no_pending_request"):
        return Problem(
            409,
            "request_pending",
            "A disassociation request is already pending for this association.",
            items=[i.model_dump() for i in check_result.items if not i.passed],
        )
    if check_result.failed("within_request_limit"):
        return Problem(
            409,
            "request_limit_reached",
            "The request limit for this association is reached.",
            next_allowed_at=check_result.next_allowed_at,
            items=[i.model_dump() for i in check_result.items if not i.passed],
        )
    return Problem(
        422,
        "check_failed",
        "The account check failed; fix the failed items and try again.",
        items=[i.model_dump() for i in check_result.items],
    )


def _unavailable(detail: str) -> Problem:
    return Problem(503, "temporarily_unavailable", detail, headers={"Retry-After": "5"})


@router.post(
    "/v1/disassociations",
    status_code=201,
    response_model=DisassociationRequest,
)
async def submit(
    body: SubmitBody,
    who: Party,
    pool: Pool,
    settings: AppSettings,
    temporal: Temporal,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> DisassociationRequest:
    async with pool.connection() as conn:
        row = await _association_to_act_on(conn, who, body.association_id)
    assert who.side is not None
    await within_rate(pool, who, "submit", settings.rate_limit_submit)
    await verified(pool, settings, who, "disassociation.submit", body.verification_code)
    cmd = SubmitCommand(
        request_id=_request_id(who, idempotency_key),
        association_id=row.id,
        partner_id=row.partner_id,
        customer_id=row.customer_id,
        partner_name=row.partner_name,
        customer_name=row.customer_name,
        association_type=row.association_type,
        initiator=who.side,
        requested_by=who.actor,
        reason=body.reason,
        policy=settings.policy(),
    )
    try:
        async with asyncio.timeout(WORKFLOW_ANSWER_TIMEOUT):
            admission: Admission = await starter.submit(temporal, cmd, settings.task_queue)
    except TimeoutError as exc:
        raise _unavailable(
            f"Request {cmd.request_id} was started but not yet checked; look it up shortly."
        ) from exc
    if not admission.accepted:
        refusal = _refusal(admission.check)
        SUBMISSIONS.labels(who.side.value, refusal.code).inc()
        raise refusal
    SUBMISSIONS.labels(who.side.value, "accepted").inc()
    log.info(
        "request accepted", request_id=str(cmd.request_id), association_id=str(cmd.association_id)
    )
    assert admission.request is not None
    response.headers["Location"] = f"/v1/disassociations/{admission.request.id}"
    return admission.request


@router.get("/v1/disassociations", response_model=Page[DisassociationRequest])
async def list_requests(
    who: Party,
    conn: Conn,
    status: RequestStatus | None = None,
    association_id: UUID | None = None,
    customer_id: UUID | None = None,
    initiator: Side | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    who.require(*READ_REQUESTS)
    with cursor_problem():
        rows, next_cursor = await requests.list_scoped(
            conn,
            who.read_scope(),
            status=status,
            association_id=association_id,
            customer_id=customer_id,
            initiator=initiator,
            limit=limit,
            cursor=cursor,
        )
    return page_response(Page[DisassociationRequest](items=rows, next_cursor=next_cursor))


@router.get("/v1/disassociations/{request_id}", response_model=DisassociationRequest)
async def get_request(request_id: UUID, who: Party, conn: Conn) -> DisassociationRequest:
    row = await requests.get(conn, request_id, scope=who.read_scope())
    if row is None:
        raise not_found("disassociation request")
    who.require(*READ_REQUESTS)
    return row


async def _decide(
    request_id: UUID,
    action: DecisionAction,
    reason: str | None,
    who: Principal,
    pool: AsyncConnectionPool,
    temporal: Temporal,
    settings: Settings,
    verification_code: str | None = None,
) -> DisassociationRequest:
    async with pool.connection() as conn:
        row = await requests.get(conn, request_id, scope=who.read_scope())
    if row is None:
        raise not_found("disassociation request")
    initiator = row.initiator
    if not who.may_act_on(row.partner_id, row.customer_id):
        raise forbidden(
            "Only the association's own partner or customer may decide on this request."
        )
    if action is DecisionAction.WITHDRAW:
        if who.side is not initiator:
            raise forbidden("Only the initiator may withdraw a request.")
        who.require(Permission.DISASSOCIATIONS_SUBMIT)
    else:
        if who.side is not initiator.other:
            raise forbidden(f"Only the counterpart ({initiator.other}) may {action} this request.")
        who.require(Permission.DISASSOCIATIONS_PROCESS)
    if row.status is not RequestStatus.PENDING:
        raise _not_pending(row.status)
    if action is not DecisionAction.WITHDRAW:
        await verified(pool, settings, who, "disassociation.decide", verification_code)
    decision = Decision(action=action, actor=who.actor, reason=reason)
    try:
        async with asyncio.timeout(WORKFLOW_ANSWER_TIMEOUT):
            return await starter.decide(temporal, workflow_id_for(request_id), decision)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            if cause.type == "not_pending":
                raise _not_pending(cause.details[0] if cause.details else None) from err
            if cause.type == "forbidden":
                raise forbidden(cause.message) from err
            if cause.type == "validation_error":
                raise Problem(422, "validation_error", cause.message) from err
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # the workflow has closed: it was settled
            async with pool.connection() as conn:
                current = await requests.get(conn, request_id)
            raise _not_pending(current.status if current else None) from err
        raise
    except TimeoutError as exc:
        raise _unavailable(
            "The decision is taking longer than usual; read the request to see if it was applied."
        ) from exc


def _not_pending(status: str | None) -> Problem:
    # RFC 9457 reserves `status` for the HTTP status code, so the request's own status is
    # `request_status`.
    return Problem(
        409,
        "not_pending",
        f"The request is no longer pending; it is {status}.",
        request_status=status,
    )


@router.post("/v1/disassociations/{request_id}/agree", response_model=DisassociationRequest)
async def agree(
    request_id: UUID,
    who: Party,
    pool: Pool,
    temporal: Temporal,
    settings: AppSettings,
    body: AgreeBody | None = None,
) -> DisassociationRequest:
    body = body or AgreeBody()
    return await _decide(
        request_id, DecisionAction.AGREE, body.reason, who, pool, temporal, settings,
        body.verification_code,
    )  # fmt: skip


@router.post("/v1/disassociations/{request_id}/reject", response_model=DisassociationRequest)
async def reject(
    request_id: UUID,
    body: RejectBody,
    who: Party,
    pool: Pool,
    temporal: Temporal,
    settings: AppSettings,
) -> DisassociationRequest:
    return await _decide(
        request_id, DecisionAction.REJECT, body.reason, who, pool, temporal, settings,
        body.verification_code,
    )  # fmt: skip


@router.post("/v1/disassociations/{request_id}/withdraw", response_model=DisassociationRequest)
async def withdraw(
    request_id: UUID,
    who: Party,
    pool: Pool,
    temporal: Temporal,
    settings: AppSettings,
    body: WithdrawBody | None = None,
) -> DisassociationRequest:
    reason = body.reason if body else None
    return await _decide(request_id, DecisionAction.WITHDRAW, reason, who, pool, temporal, settings)
