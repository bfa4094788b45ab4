"""/v1/admin/disassociations and /v1/admin/type-changes: operators decide on a request for the
counterpart, or cancel it, under the name their token carries."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import App, Operator
from api.schemas import Body, DisassociationRequest, Reason, TypeChangeRequest
from application import requests
from domain.types import DecisionAction, RequestKind

router = APIRouter(prefix="/v1/admin/disassociations", tags=["admin"])
type_changes_router = APIRouter(prefix="/v1/admin/type-changes", tags=["admin"])
DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE


class AdminAgreeBody(Body):
    reason: Reason | None = None


class AdminReasonBody(Body):
    reason: Reason


@router.post(
    "/{request_id}/agree",
    response_model=DisassociationRequest,
    operation_id="agreeDisassociationAsOperator",
)
async def agree(
    request_id: UUID, who: Operator, app: App, body: AdminAgreeBody | None = None
) -> DisassociationRequest:
    """Agree on the counterpart's behalf; the association ends."""
    reason = body.reason if body else None
    agreed = await requests.decide(
        app, who, DISASSOCIATION, request_id, DecisionAction.AGREE, reason
    )
    return DisassociationRequest.of(agreed)


@router.post(
    "/{request_id}/reject",
    response_model=DisassociationRequest,
    operation_id="rejectDisassociationAsOperator",
)
async def reject(
    request_id: UUID, body: AdminReasonBody, who: Operator, app: App
) -> DisassociationRequest:
    """Reject on the counterpart's behalf (a reason is required); the association continues."""
    rejected = await requests.decide(
        app, who, DISASSOCIATION, request_id, DecisionAction.REJECT, body.reason
    )
    return DisassociationRequest.of(rejected)


@router.post(
    "/{request_id}/cancel",
    response_model=DisassociationRequest,
    operation_id="cancelDisassociation",
)
async def cancel(
    request_id: UUID, body: AdminReasonBody, who: Operator, app: App
) -> DisassociationRequest:
    """Cancel the request (a reason is required): both sides are told, the association
    continues."""
    cancelled = await requests.decide(
        app, who, DISASSOCIATION, request_id, DecisionAction.CANCEL, body.reason
    )
    return DisassociationRequest.of(cancelled)


@type_changes_router.post(
    "/{request_id}/agree",
    response_model=TypeChangeRequest,
    operation_id="agreeTypeChangeAsOperator",
)
async def agree_type_change(
    request_id: UUID, who: Operator, app: App, body: AdminAgreeBody | None = None
) -> TypeChangeRequest:
    """Agree on the counterpart's behalf; the association's type changes."""
    reason = body.reason if body else None
    agreed = await requests.decide(app, who, TYPE_CHANGE, request_id, DecisionAction.AGREE, reason)
    return TypeChangeRequest.of(agreed)


@type_changes_router.post(
    "/{request_id}/reject",
    response_model=TypeChangeRequest,
    operation_id="rejectTypeChangeAsOperator",
)
async def reject_type_change(
    request_id: UUID, body: AdminReasonBody, who: Operator, app: App
) -> TypeChangeRequest:
    """Reject on the counterpart's behalf (a reason is required); the type stays."""
    rejected = await requests.decide(
        app, who, TYPE_CHANGE, request_id, DecisionAction.REJECT, body.reason
    )
    return TypeChangeRequest.of(rejected)


@type_changes_router.post(
    "/{request_id}/cancel",
    response_model=TypeChangeRequest,
    operation_id="cancelTypeChange",
)
async def cancel_type_change(
    request_id: UUID, body: AdminReasonBody, who: Operator, app: App
) -> TypeChangeRequest:
    """Cancel the request (a reason is required): both sides are told, the type stays."""
    cancelled = await requests.decide(
        app, who, TYPE_CHANGE, request_id, DecisionAction.CANCEL, body.reason
    )
    return TypeChangeRequest.of(cancelled)
