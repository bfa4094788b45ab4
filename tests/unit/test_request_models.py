"""A request crosses several boundaries, each with a model of its own, and on purpose:

- `domain.types.Request`: what the use cases and the store speak, for every kind;
- `contract.RequestSnapshot`: what workflow histories record — it must keep reading histories
  already written (tests/workflows/test_contract.py), so it changes only compatibly, and it
  carries the id of the decision that settled the request, which nobody outside needs;
- `api.schemas.DisassociationRequest` / `TypeChangeRequest`: the HTTP responses — within v1
  they only grow (tests/api/test_openapi_v1.py), whatever the others do;
- `domain.events.RequestData` / `TypeChangeData`: webhook payloads, which partners' receivers
  parse.

A field added to one of them for its own boundary reaches no other. Copies between them go by
field name (`model_validate(..., from_attributes=True)`), so this test is what holds them
together: the same fields, of the same types, but for the snapshot's decision id and the
kind-specific fields, which are optional where every kind shares the model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel

from api import schemas
from contract import RequestSnapshot, snapshot_of
from domain.events import PartnerChangeData, RequestData, TypeChangeData, request_event
from domain.types import (
    AssociationType,
    ConsentGiven,
    DecisionAction,
    Request,
    RequestKind,
    RequestStatus,
    Side,
)

ONLY_IN_HISTORIES = {"decision_id"}
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
# What clients read of each kind, at each boundary.
HTTP: dict[RequestKind, type[schemas.RequestView]] = {
    RequestKind.DISASSOCIATION: schemas.DisassociationRequest,
    RequestKind.TYPE_CHANGE: schemas.TypeChangeRequest,
    RequestKind.PARTNER_CHANGE: schemas.PartnerChangeRequest,
}
EVENTS: dict[RequestKind, type[BaseModel]] = {
    RequestKind.DISASSOCIATION: RequestData,
    RequestKind.TYPE_CHANGE: TypeChangeData,
    RequestKind.PARTNER_CHANGE: PartnerChangeData,
}


def fields(model: type[BaseModel]) -> dict[str, Any]:
    """Each field's type; a model's by its fields (the HTTP and webhook boundaries have models of
    their own for a partner's answer)."""
    return {name: _shape(info.annotation) for name, info in model.model_fields.items()}


def _shape(annotation: Any) -> Any:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    inner = args[0] if len(args) == 1 else annotation
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return ("model", tuple(sorted(fields(inner).items(), key=lambda kv: kv[0])))
    return annotation


def stored_name(model: type[BaseModel], name: str) -> str:
    """The stored request's field a view's field is copied from (by name, or its alias)."""
    alias = model.model_fields[name].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[-1]) if choices else name


def test_the_stored_request_and_the_history_snapshot_have_the_same_fields():
    request = fields(Request)
    snapshot = fields(RequestSnapshot)
    assert set(snapshot) - set(request) == ONLY_IN_HISTORIES
    assert {k: v for k, v in snapshot.items() if k not in ONLY_IN_HISTORIES} == request


def test_each_kind_reads_the_same_at_every_boundary():
    """What clients read of a kind (the SPEC's fields: a type change adds `from_type` and
    `new_type`, required there) is the same in HTTP responses and webhook payloads, and is the
    stored request's fields."""
    assert set(RequestKind) == set(HTTP) == set(EVENTS)
    stored = fields(Request)
    for kind in RequestKind:
        assert fields(HTTP[kind]) == fields(EVENTS[kind])
        assert {stored_name(HTTP[kind], name) for name in fields(HTTP[kind])} <= set(stored) - {
            "kind"
        }
    only_of_other_kinds = {"kind", "from_type", "new_type", "new_partner_id",
                           "current_partner_decision", "new_partner_decision",
                           "new_association_id", "completed_at"}  # fmt: skip
    assert set(fields(HTTP[RequestKind.DISASSOCIATION])) == set(stored) - only_of_other_kinds
    assert fields(HTTP[RequestKind.TYPE_CHANGE])["new_type"] is AssociationType


def a_request(kind: RequestKind) -> Request:
    types: dict[str, Any] = (
        {"from_type": AssociationType.RESALE, "new_type": AssociationType.REFERRAL}
        if kind is RequestKind.TYPE_CHANGE
        else {}
    )
    if kind is RequestKind.PARTNER_CHANGE:
        answer = ConsentGiven(decision=DecisionAction.AGREE, at=T0, by="partner_user:p")
        types = {"new_partner_id": uuid4(), "current_partner_decision": answer,
                 "new_association_id": uuid4(), "completed_at": T0}  # fmt: skip
    return Request(
        id=uuid4(), kind=kind, association_id=uuid4(), partner_id=uuid4(), customer_id=uuid4(),
        initiator=Side.CUSTOMER, status=RequestStatus.AGREED, reason="moving on",
        submitted_at=T0, respond_by=T0, decided_at=T0, decided_by="partner_user:p",
        decision_reason=None, **types,
    )  # fmt: skip


@pytest.mark.parametrize("kind", list(RequestKind))
def test_a_request_crosses_every_boundary_unchanged(kind):
    request = a_request(kind)
    snapshot = snapshot_of(request, decision_id="update-1")
    assert snapshot.decision_id == "update-1"
    assert snapshot.model_dump(exclude={"decision_id"}) == request.model_dump()
    seen = HTTP[kind].of(request)
    copied = {stored_name(HTTP[kind], name): name for name in HTTP[kind].model_fields}
    stored = request.model_dump(mode="json", include=set(copied))
    shown = seen.model_dump(mode="json")
    for name, value in stored.items():
        if isinstance(value, dict):  # a partner's answer: the view's own model of it
            assert value.items() >= shown[copied[name]].items()
        else:
            assert shown[copied[name]] == value
    assert request_event(request)["request"] == seen.model_dump(mode="json")
