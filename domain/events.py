"""What assocflow publishes when a request changes: the `data` of each notification, as the
message center shows it and webhooks deliver it (Standard Webhooks: `type`, `timestamp`,
`data`). These models are the webhook contract partners build against: separate from the HTTP
responses and from the workflow's payloads, changed only compatibly (fields are added, never
renamed or removed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from domain.types import DisassociationRequest, RequestStatus, Side


class RequestData(BaseModel):
    """The request an event is about."""

    id: UUID
    association_id: UUID
    partner_id: UUID
    customer_id: UUID
    initiator: Side
    status: RequestStatus
    reason: str
    submitted_at: datetime
    respond_by: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None


class RequestEvent(BaseModel):
    """The `data` of every `disassociation.*` and `association.ended` event."""

    request: RequestData


def request_event(request: DisassociationRequest) -> dict[str, Any]:
    """The `data` of an event about `request`, as stored and delivered."""
    data = RequestData(
        id=request.id,
        association_id=request.association_id,
        partner_id=request.partner_id,
        customer_id=request.customer_id,
        initiator=request.initiator,
        status=request.status,
        reason=request.reason,
        submitted_at=request.submitted_at,
        respond_by=request.respond_by,
        decided_at=request.decided_at,
        decided_by=request.decided_by,
        decision_reason=request.decision_reason,
    )
    return RequestEvent(request=data).model_dump(mode="json")
