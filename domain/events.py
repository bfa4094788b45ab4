"""What assocflow publishes when a request changes: the `data` of each notification, as the
message center shows it and webhooks deliver it (Standard Webhooks: `type`, `timestamp`,
`data`). These models are the webhook contract partners build against: separate from the HTTP
responses and from the workflow's payloads, changed only compatibly (fields are added, never
renamed or removed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, BaseModel, Field

from domain.types import (
    AssociationType,
    DecisionAction,
    Party,
    Request,
    RequestKind,
    RequestStatus,
    Side,
)


class RequestData(BaseModel):
    """The request an event is about: a disassociation's, and what every kind's carries."""

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


class TypeChangeData(RequestData):
    """The type change request an event is about: a request, and from which type to which."""

    from_type: AssociationType
    new_type: AssociationType


class PartnerAnswer(BaseModel):
    """A partner's answer to a partner change."""

    decision: DecisionAction
    at: datetime
    by: str
    reason: str | None = None


class NewPartnerAnswer(PartnerAnswer):
    """The new partner's answer: accepting, it chose the new association's type."""

    association_type: AssociationType | None = None


class PartnerChangeData(BaseModel):
    """The partner change request an event is about (the SPEC's fields)."""

    id: UUID
    association_id: UUID
    customer_id: UUID
    current_partner_id: UUID = Field(
        validation_alias=AliasChoices("current_partner_id", "partner_id")
    )
    new_partner_id: UUID
    status: RequestStatus
    reason: str
    submitted_at: datetime
    respond_by: datetime
    current_partner_decision: PartnerAnswer | None = None
    new_partner_decision: NewPartnerAnswer | None = None
    new_association_id: UUID | None = None
    completed_at: datetime | None = None


class RequestEvent(BaseModel):
    """The `data` of every `disassociation.*` and `association.ended` event."""

    request: RequestData


class TypeChangeEvent(BaseModel):
    """The `data` of every `type_change.*` and `association.type_changed` event."""

    request: TypeChangeData


class PartnerChangeEvent(BaseModel):
    """The `data` of every `partner_change.*` event, and of the `association.ended` and
    `association.started` a partner change brings."""

    request: PartnerChangeData


def request_event(request: Request, party: Party = Party.CUSTOMER) -> dict[str, Any]:
    """The `data` of an event about `request`, as stored and delivered to `party`."""
    # By name: tests/unit/test_request_models.py holds the models field by field.
    if request.kind is RequestKind.TYPE_CHANGE:
        change = TypeChangeData.model_validate(request, from_attributes=True)
        return TypeChangeEvent(request=change).model_dump(mode="json")
    if request.kind is RequestKind.PARTNER_CHANGE:
        move = PartnerChangeData.model_validate(request.as_read_by(party), from_attributes=True)
        return PartnerChangeEvent(request=move).model_dump(mode="json")
    data = RequestData.model_validate(request, from_attributes=True)
    return RequestEvent(request=data).model_dump(mode="json")
