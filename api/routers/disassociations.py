"""Disassociation checks, requests and decisions (api/routers/requests.py makes the routes)."""

from __future__ import annotations

from api.routers.requests import Resource, operator_routes, party_routes
from api.schemas import CheckBody, DisassociationRequest, SubmitBody
from domain.types import RequestKind

DISASSOCIATIONS = Resource(
    kind=RequestKind.DISASSOCIATION,
    collection="disassociations",
    check_path="disassociation-checks",
    tag="disassociations",
    name="Disassociation",
    model=DisassociationRequest,
    check_body=CheckBody,
    submit_body=SubmitBody,
    docs={
        "check": "Run the account check on its own, so that failed items can be fixed before"
        " submitting.",
        "submit": "Ask to end an association. The account check runs first: a pending request"
        " or the request limit is 409 (`request_pending`, `request_limit_reached` with"
        " `next_allowed_at`), any other failed item 422 `check_failed` with the items, and"
        " nothing is stored. Accepted, the request is pending until the counterpart answers or"
        " `respond_by` passes. Send an `Idempotency-Key` to retry safely: a retry joins the"
        " first attempt's request.",
        "list": "Requests of the caller's associations, newest first, with filters; pages of"
        " `limit` with `cursor`.",
        "get": "One request and its state; an id the caller cannot see is 404.",
        "agree": "The counterpart agrees (a reason is optional): the association ends. A"
        " request that is no longer pending is 409 `not_pending` with its `request_status`;"
        " anyone but the counterpart gets 403.",
        "reject": "The counterpart rejects, with a reason: the association continues. A request"
        " that is no longer pending is 409 `not_pending` with its `request_status`.",
        "withdraw": "The initiator withdraws a pending request: the association continues.",
        "agree_as_operator": "Agree on the counterpart's behalf; the association ends.",
        "reject_as_operator": "Reject on the counterpart's behalf (a reason is required); the"
        " association continues.",
        "cancel": "Cancel the request (a reason is required): both sides are told, the"
        " association continues.",
    },
)

router = party_routes(DISASSOCIATIONS)
admin_router = operator_routes(DISASSOCIATIONS)
