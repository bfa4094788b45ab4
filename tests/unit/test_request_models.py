"""A request crosses four boundaries, each with a model of its own, and on purpose:

- `domain.types.DisassociationRequest`: what the use cases and the store speak;
- `contract.RequestSnapshot`: what workflow histories record — it must keep reading histories
  already written (tests/workflows/test_contract.py), so it changes only compatibly, and it
  carries the id of the decision that settled the request, which nobody outside needs;
- `api.schemas.DisassociationRequest`: the HTTP response — within v1 it only grows
  (tests/api/test_openapi_v1.py), whatever the others do;
- `domain.events.RequestData`: webhook payloads, which partners' receivers parse.

A field added to one of them for its own boundary reaches no other. Copies between them go by
field name (`model_validate(..., from_attributes=True)`), so this test is what holds them
together: the same fields, of the same types, but for the snapshot's decision id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pydantic import BaseModel

from api.schemas import DisassociationRequest as HttpRequest
from contract import RequestSnapshot, snapshot_of
from domain.events import RequestData, request_event
from domain.types import DisassociationRequest, RequestStatus, Side

ONLY_IN_HISTORIES = {"decision_id"}
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def fields(model: type[BaseModel]) -> dict[str, Any]:
    return {name: info.annotation for name, info in model.model_fields.items()}


def test_the_four_models_of_a_request_have_the_same_fields():
    request = fields(DisassociationRequest)
    snapshot = fields(RequestSnapshot)
    assert set(snapshot) - set(request) == ONLY_IN_HISTORIES
    assert {k: v for k, v in snapshot.items() if k not in ONLY_IN_HISTORIES} == request
    assert fields(HttpRequest) == request
    assert fields(RequestData) == request


def test_a_request_crosses_every_boundary_unchanged():
    request = DisassociationRequest(
        id=uuid4(), association_id=uuid4(), partner_id=uuid4(), customer_id=uuid4(),
        initiator=Side.CUSTOMER, status=RequestStatus.AGREED, reason="moving on",
        submitted_at=T0, respond_by=T0, decided_at=T0, decided_by="partner_user:p",
        decision_reason=None,
    )  # fmt: skip
    snapshot = snapshot_of(request, decision_id="update-1")
    assert snapshot.decision_id == "update-1"
    assert snapshot.model_dump(exclude={"decision_id"}) == request.model_dump()
    assert HttpRequest.of(request).model_dump() == request.model_dump()
    assert request_event(request)["request"] == request.model_dump(mode="json")
