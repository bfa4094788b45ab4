"""Association type change checks, requests and decisions (SPEC v3; api/routers/requests.py
makes the routes)."""

from __future__ import annotations

from api.routers.requests import Resource, operator_routes, party_routes
from api.schemas import TypeChangeBody, TypeChangeCheckBody, TypeChangeRequest
from domain.types import RequestKind

TYPE_CHANGES = Resource(
    kind=RequestKind.TYPE_CHANGE,
    collection="type-changes",
    check_path="type-change-checks",
    tag="type_changes",
    name="TypeChange",
    model=TypeChangeRequest,
    check_body=TypeChangeCheckBody,
    submit_body=TypeChangeBody,
    docs={
        "check": "Run the check of a type change to `new_type` on its own, so that failed items"
        " can be fixed before submitting.",
        "submit": "Ask to change an association's type to `new_type`; the counterpart agrees or"
        " rejects by `respond_by`, and on the deadline the request expires. The check runs"
        " first: a pending request (of any kind) or the limit is 409 (`request_pending`,"
        " `request_limit_reached` with `next_allowed_at`), any other failed item 422"
        " `check_failed` with the items, and nothing is stored. Send an `Idempotency-Key` to"
        " retry safely: a retry joins the first attempt's request.",
        "list": "Type change requests of the caller's associations, newest first, with filters;"
        " pages of `limit` with `cursor`.",
        "get": "One type change request and its state; an id the caller cannot see is 404.",
        "agree": "The counterpart agrees (a reason is optional): the association's type"
        " changes. A request that is no longer pending is 409 `not_pending` with its"
        " `request_status`; anyone but the counterpart gets 403.",
        "reject": "The counterpart rejects, with a reason: the association keeps its type. A"
        " request that is no longer pending is 409 `not_pending` with its `request_status`.",
        "withdraw": "The initiator withdraws a pending request: the association keeps its type.",
        "agree_as_operator": "Agree on the counterpart's behalf; the association's type changes.",
        "reject_as_operator": "Reject on the counterpart's behalf (a reason is required); the"
        " type stays.",
        "cancel": "Cancel the request (a reason is required): both sides are told, the type stays.",
    },
)

router = party_routes(TYPE_CHANGES)
admin_router = operator_routes(TYPE_CHANGES)
