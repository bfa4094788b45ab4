"""/v1/admin/disassociations: operators decide on a request for the counterpart, or cancel it,
under the name their token carries."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import App, Operator
from api.schemas import Body, DisassociationRequest, Reason
from application import disassociations
from domain.types import DecisionAction

router = APIRouter(prefix="/v1/admin/disassociations", tags=["admin"])


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
    agreed = await disassociations.decide(app, who, request_id, DecisionAction.AGREE, reason)
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
    rejected = await disassociations.decide(
        app, who, request_id, DecisionAction.REJECT, body.reason
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
    cancelled = await disassociations.decide(
        app, who, request_id, DecisionAction.CANCEL, body.reason
    )
    return DisassociationRequest.of(cancelled)
