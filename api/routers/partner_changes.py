"""Partner changes (SPEC v3): a customer moves to another partner with both partners' consent
(api/routers/requests.py makes the routes)."""

from __future__ import annotations

from api.routers.requests import Resource, operator_routes, party_routes
from api.schemas import PartnerChangeBody, PartnerChangeCheckBody, PartnerChangeRequest
from domain.types import DecisionAction, RequestKind

PARTNER_CHANGES = Resource(
    kind=RequestKind.PARTNER_CHANGE,
    collection="partner-changes",
    check_path="partner-change-checks",
    tag="partner_changes",
    name="PartnerChange",
    model=PartnerChangeRequest,
    check_body=PartnerChangeCheckBody,
    submit_body=PartnerChangeBody,
    party_actions=(
        DecisionAction.AGREE,
        DecisionAction.REJECT,
        DecisionAction.ACCEPT,
        DecisionAction.DECLINE,
        DecisionAction.WITHDRAW,
    ),
    operator_actions=(DecisionAction.CANCEL,),
    docs={
        "check": "Run the check of a move to `new_partner_id` on its own (the customer's"
        " disassociation items, the limit, and whether the new partner takes customers), so"
        " that failed items can be fixed before submitting.",
        "submit": "The customer asks to move from its partner to `new_partner_id` (the new"
        " partner's partner code). Both partners answer by `respond_by`: the current partner"
        " agrees or rejects, the new partner accepts (choosing the association type) or"
        " declines; the first refusal ends the request. On the deadline the current partner's"
        " silence agrees and the new partner's expires the request. When both have consented"
        " the old association ends and the new one begins, in one step. The check runs first:"
        " a pending request or the limit is 409, any other failed item 422 `check_failed`. Send"
        " an `Idempotency-Key` to retry safely.",
        "list": "Partner changes of the caller's associations, and those that would bring the"
        " caller's partner a customer, newest first; pages of `limit` with `cursor`.",
        "get": "One partner change as the caller may read it (the new partner never reads the"
        " current partner's reason); an id the caller cannot see is 404.",
        "agree": "The current partner agrees to let its customer go. Once the new partner has"
        " accepted too, the customer moves.",
        "reject": "The current partner rejects, with a reason: the request ends, the customer"
        " stays.",
        "accept": "The new partner accepts the customer, choosing the type of the new"
        " association (the current type if absent). Once the current partner has agreed (or"
        " when its silence agrees at the deadline), the customer moves.",
        "decline": "The new partner declines, with a reason: the request ends, the customer stays.",
        "withdraw": "The customer withdraws its pending request: it stays with its partner.",
        "cancel": "Cancel the request (a reason is required): every party is told, the customer"
        " stays.",
    },
)

router = party_routes(PARTNER_CHANGES)
admin_router = operator_routes(PARTNER_CHANGES)
