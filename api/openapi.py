"""The OpenAPI document, from the tables in this module: each operation's summary, what it answers,
the problem codes it can fail with (one table: `OPERATIONS`), the tags, and an example of every
body. `install` checks that every route of the app has a row and every row a route, so a route
cannot ship undocumented and the schema cannot name errors of a route that is gone.

The routers name their operation (`operation_id=`) and say in their docstring what it does; the
rest is here. tests/api/test_openapi.py checks the document (every example valid against its
schema, nothing undescribed), and tests/documented_errors.py checks that every error the suite
sees a route answer is documented for that route.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import webhook_events
from api.problems import status_of
from api.routers.disassociations import DISASSOCIATIONS
from api.routers.partner_changes import PARTNER_CHANGES
from api.routers.requests import Resource
from api.routers.type_changes import TYPE_CHANGES
from api.schemas import ProblemDetail, Record
from application import records
from domain.types import DecisionAction

REF = "#/components/schemas/"

TAGS: list[dict[str, str]] = [
    {
        "name": "associations",
        "description": "The partner–customer associations the caller is a party to (or, for a"
        " distributor or PSP, those of the resellers under it).",
    },
    {
        "name": "disassociations",
        "description": "Ending an association: the account check, the request, and the"
        " counterpart's agree or reject before `respond_by` (or the initiator's withdraw).",
    },
    {
        "name": "type_changes",
        "description": "Changing an association's type (v3): the check, the request, and the"
        " counterpart's agree or reject before `respond_by` (or the initiator's withdraw); on the"
        " deadline the request expires.",
    },
    {
        "name": "partner_changes",
        "description": "A customer's move to another partner (v3): the check, the request, the"
        " current partner's agree or reject and the new partner's accept or decline, awaited"
        " together until `respond_by`; then the old association ends and the new one begins in"
        " one step.",
    },
    {
        "name": "records",
        "description": "Manage Association Records: who did what, when and why, newest first.",
    },
    {
        "name": "account",
        "description": "The caller's account: its settings (verification, the language of its"
        " messages) and message center.",
    },
    {
        "name": "mfa",
        "description": "Each person's authenticator app (TOTP) and recovery codes: the"
        " verification code that sensitive operations need where the account requires it.",
    },
    {
        "name": "webhooks",
        "description": "Webhook endpoints the account's events are delivered to (Standard"
        " Webhooks), and what was delivered. The events themselves are under `webhooks`.",
    },
    {
        "name": "admin",
        "description": "Operators: partners, customers and their people, standing, associations,"
        " tokens, the audit log, and decisions on a request for the counterpart.",
    },
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]

# --- the problem codes ------------------------------------------------------------------------

# An example of each problem code a route may answer: its detail, and the members it adds.
PROBLEMS: dict[str, tuple[str, dict[str, Any]]] = {
    "unauthorized": ("The token is unknown, expired or revoked.", {}),
    "forbidden": ("This action needs the disassociations:process permission.", {}),
    "not_found": ("No disassociation request with this id is visible to you.", {}),
    "validation_error": (
        "The request is not valid; see `errors`.",
        {"errors": [{"loc": ["body", "reason"], "msg": "Field required", "type": "missing"}]},
    ),
    "payload_too_large": ("The request body is larger than 65536 bytes.", {}),
    "check_failed": (
        "The account check failed; fix the failed items and try again.",
        {
            "items": [
                {
                    "code": "no_arrears",
                    "passed": False,
                    "message": "The customer's account is in arrears: settle the balance first.",
                }
            ]
        },
    ),
    "request_pending": (
        "A disassociation request is already pending for this association.",
        {
            "items": [
                {
                    "code": "no_pending_request",
                    "passed": False,
                    "message": "A request to end this association is pending already.",
                }
            ]
        },
    ),
    "request_limit_reached": (
        "The request limit is reached.",
        {
            "next_allowed_at": "2026-07-01T00:00:00Z",
            "items": [
                {
                    "code": "within_request_limit",
                    "passed": False,
                    "message": "One request per 3 months: a new one is allowed from 2026-07-01.",
                }
            ],
        },
    ),
    "not_pending": (
        "The request is no longer pending; it is agreed.",
        {"request_status": "agreed"},
    ),
    "already_answered": (
        "You have answered this request already; it awaits the other partner's answer.",
        {},
    ),
    "customer_already_associated": (
        "The customer already has an active association; end it first.",
        {},
    ),
    "email_taken": (
        "Another person signs in with this email.",
        {"errors": [{"loc": ["body", "email"]}]},
    ),
    "verification_required": (
        "This account requires verification for agreeing a request: send your authenticator's"
        " current code (or a recovery code) as `verification_code`.",
        {"operation": "agreeing a request"},
    ),
    "mfa_enrolment_required": (
        "This account requires verification: enrol an authenticator app first"
        " (POST /v1/mfa/enrolment, then confirm it with a code).",
        {},
    ),
    "mfa_already_enrolled": (
        "You are enrolled already; an operator can reset your enrolment if you lost it.",
        {},
    ),
    "mfa_not_enrolling": (
        "No enrolment waits for confirmation: start one with POST /v1/mfa/enrolment.",
        {},
    ),
    "verification_code_incorrect": (
        "The code is incorrect or was used already; 4 attempt(s) left before verification is"
        " locked.",
        {},
    ),
    "verification_locked": (
        "Verification is locked after 5 failed codes; try again in about 15 minute(s).",
        {},
    ),
    "rate_limited": ("Too many submit requests for this account; try again in 42 s.", {}),
    "idempotency_key_reused": (
        "This Idempotency-Key was used for a different request; use a new key.",
        {},
    ),
    "idempotency_key_in_use": (
        "A request with this Idempotency-Key is still running; retry shortly.",
        {},
    ),
    "temporarily_unavailable": (
        "assocflow cannot reach its database right now; try again shortly.",
        {},
    ),
    "webhooks_unavailable": ("Webhooks need ASSOCFLOW_ENCRYPTION_KEY on the server.", {}),
    "webhook_endpoint_limit_reached": (
        "This account has 10 webhook endpoints, as many as it may"
        " (ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX): remove one first.",
        {"limit": 10},
    ),
    "gone": (
        "Verification codes are no longer sent to the message center. Enrol an authenticator app"
        " (POST /v1/mfa/enrolment) and send its current code as `verification_code`.",
        {"replacement": "/v1/mfa/enrolment"},
    ),
    "not_acceptable": ("Accept application/json or text/csv (or any: `*/*`).", {}),
    "not_ready": (
        "A dependency is unavailable.",
        {"checks": {"postgres": "ok", "temporal": "unavailable: RPCError"}},
    ),
}

# What a status means, whatever the code: the start of each error response's description.
MEANING = {
    401: "No token, or an unknown, expired or revoked one.",
    403: "Visible, but not for this caller.",
    404: "Nothing with this id is visible to the caller.",
    406: "The `Accept` header accepts none of the media types the operation answers with.",
    409: "The state forbids it now.",
    410: "This route went away; `replacement` names the one to use.",
    413: "The body is larger than the server takes (ASSOCFLOW_MAX_BODY_BYTES).",
    422: "The input is not valid.",
    429: "Too many requests or failed codes; wait `Retry-After` seconds.",
    503: "A dependency did not answer; retry after `Retry-After` seconds.",
}

# --- each route's errors --------------------------------------------------------------------

# Whoever calls with a token: 401 without a valid one, 403 for the wrong kind of caller (an
# operator on the product API, a party on /v1/admin) or a missing permission; and, since the
# token is looked up in PostgreSQL, 503 while PostgreSQL is unavailable (api/outages.py).
AUTH = ("unauthorized", "forbidden", "temporarily_unavailable")
# A path id or query parameters: malformed is 422, an id outside the caller's scope 404.
BY_ID = ("validation_error", "not_found")
QUERY = ("validation_error",)
# A body: invalid is 422, over the cap 413.
BODY = ("validation_error", "payload_too_large")
# The Idempotency-Key (api/idempotency.py): another body under the same key, or the first
# request with the key still running.
IDEMPOTENT = ("idempotency_key_reused", "idempotency_key_in_use")
# What the acting person's verification code can answer where the account requires one.
VERIFIED = (
    "verification_required",
    "mfa_enrolment_required",
    "verification_code_incorrect",
    "verification_locked",
    "rate_limited",
)
TEMPORAL = ("temporarily_unavailable",)
# An operation that answers more than one media type (`Accept`).
NEGOTIATED = ("not_acceptable",)
DECISION = ("not_pending",)


@dataclass(frozen=True)
class Operation:
    """One operation: its tag's summary line, what its success answers, the problem codes it
    may fail with, and what else the table adds."""

    summary: str
    ok: str
    errors: tuple[str, ...] = ()
    body: str | None = None
    # The Idempotency-Key header applies: the document lists it, and api/idempotency.py keeps
    # responses for exactly these operations.
    idempotent: bool = False
    # A rate limit applies: RateLimit-* headers (and Retry-After on 429).
    rate_limited: bool = False
    # The example of a success whose schema is not a component (a dict, text).
    example: Any = None


def request_operations(
    resource: Resource, *, asks: str, agreed: str, kept: str, answered: str = ""
) -> dict[str, Operation]:
    """The operations of a kind of request, as api/routers/requests.py makes its routes from
    `resource`: what it `asks`, what agreement does, what stays otherwise, and (a request that
    awaits more than one consent) what one consent leaves it `answered`."""
    name = resource.name
    plural = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower() + " requests"
    decided = AUTH + BY_ID + BODY + TEMPORAL + DECISION
    answer = decided + IDEMPOTENT + VERIFIED + (("already_answered",) if answered else ())
    consented = f"{answered}, or {agreed}" if answered else agreed
    party = {
        DecisionAction.AGREE: Operation(
            "Agree to a request (the counterpart)",
            f"The request, agreed: {consented}.",
            answer,
            body="Optional: a reason, and the verification code where the account requires it.",
            idempotent=True,
            rate_limited=True,
        ),
        DecisionAction.REJECT: Operation(
            "Reject a request (the counterpart)",
            f"The request, rejected: {kept}.",
            answer,
            body="The reason (required), and the verification code where the account requires it.",
            idempotent=True,
            rate_limited=True,
        ),
        DecisionAction.ACCEPT: Operation(
            "Accept the customer (the new partner)",
            f"The request, accepted: {consented}.",
            answer,
            body="Optional: the new association's type, a reason, and the verification code"
            " where the account requires it.",
            idempotent=True,
            rate_limited=True,
        ),
        DecisionAction.DECLINE: Operation(
            "Decline the customer (the new partner)",
            f"The request, declined: {kept}.",
            answer,
            body="The reason (required), and the verification code where the account requires it.",
            idempotent=True,
            rate_limited=True,
        ),
        DecisionAction.WITHDRAW: Operation(
            "Withdraw a request (the initiator)",
            f"The request, withdrawn: {kept}.",
            decided + IDEMPOTENT,
            body="Optional: a reason.",
            idempotent=True,
        ),
    }
    operator = {
        DecisionAction.AGREE: (
            f"agree{name}AsOperator",
            Operation(
                "Agree to a request for the counterpart",
                f"The request, agreed: {agreed}.",
                decided,
                body="Optional: a reason.",
            ),
        ),
        DecisionAction.REJECT: (
            f"reject{name}AsOperator",
            Operation(
                "Reject a request for the counterpart",
                "The request, rejected.",
                decided,
                body="The reason (required).",
            ),
        ),
        DecisionAction.CANCEL: (
            f"cancel{name}",
            Operation(
                "Cancel a request",
                f"The request, cancelled: {kept}.",
                decided,
                body="The reason (required).",
            ),
        ),
    }
    return {
        f"check{name}": Operation(
            "Run the account check",
            "The check: `passed`, and each item with what to do when it failed.",
            AUTH + BY_ID + BODY,
            body="What the request would ask, to check.",
        ),
        f"submit{name}": Operation(
            f"Ask to {asks}",
            "The request, pending: its answers are due by `respond_by`. `Location` names it.",
            AUTH
            + BY_ID
            + BODY
            + IDEMPOTENT
            + VERIFIED
            + TEMPORAL
            + ("check_failed", "request_pending", "request_limit_reached"),
            body="What is asked, the reason, the acknowledgement and, where the account requires"
            " it, the acting person's verification code.",
            idempotent=True,
            rate_limited=True,
        ),  # fmt: skip
        f"list{name}s": Operation(
            f"List {plural}", "A page of requests, newest first.", AUTH + QUERY
        ),
        f"get{name}": Operation("Read one request", "The request.", AUTH + BY_ID),
        **{f"{action.value}{name}": party[action] for action in resource.party_actions},
        **dict(operator[action] for action in resource.operator_actions),
    }


OPERATIONS: dict[str, Operation] = {
    **request_operations(
        DISASSOCIATIONS,
        asks="end an association",
        agreed="the association has ended",
        kept="the association continues",
    ),
    **request_operations(
        TYPE_CHANGES,
        asks="change an association's type",
        agreed="the association has its new type",
        kept="the association keeps its type",
    ),
    **request_operations(
        PARTNER_CHANGES,
        asks="move to another partner",
        agreed="completed, once both partners consented: the customer moved",
        kept="the customer stays with its partner",
        answered="pending for the other partner's answer",
    ),
    # associations
    "listAssociations": Operation(
        "List the caller's associations",
        "A page of associations, newest first.",
        AUTH + QUERY,
    ),
    "getAssociation": Operation("Read one association", "The association.", AUTH + BY_ID),
    # records
    "listAssociationRecords": Operation(
        "List association records",
        "A page of records, newest first (JSON); with `Accept: text/csv`, every record the"
        " filters match, newest first, as one CSV download (`Content-Disposition: attachment`).",
        AUTH + QUERY + NEGOTIATED,
    ),
    # account
    "getAccountSettings": Operation("Read the account's settings", "The settings.", AUTH),
    "updateAccountSettings": Operation(
        "Change the account's settings",
        "The settings as they are now.",
        AUTH + BODY + VERIFIED,
        body="Only the settings sent change; `verification_code` when weakening verification.",
        rate_limited=True,
    ),
    "requestVerificationCode": Operation(
        "Gone: verification codes by message",
        "Never: the route is gone.",
        ("gone",),
    ),
    "listNotifications": Operation(
        "List the message center", "A page of notifications, newest first.", AUTH + QUERY
    ),
    "markNotificationRead": Operation(
        "Mark a notification read", "The notification, read.", AUTH + BY_ID
    ),
    # mfa
    "getMfaEnrolment": Operation(
        "Read the caller's enrolment", "Whether the caller is enrolled.", AUTH
    ),
    "startMfaEnrolment": Operation(
        "Start enrolling an authenticator app",
        "The secret for the app, once: as an otpauth URI and as a QR code.",
        AUTH + ("mfa_already_enrolled", "temporarily_unavailable"),
    ),
    "confirmMfaEnrolment": Operation(
        "Confirm the enrolment with a first code",
        "Ten recovery codes, once.",
        AUTH
        + BODY
        + (
            "mfa_not_enrolling",
            "verification_code_incorrect",
            "verification_locked",
            "temporarily_unavailable",
        ),
        body="The app's current code.",
    ),
    # webhooks
    "createWebhookEndpoint": Operation(
        "Register a webhook endpoint",
        "The endpoint with its `whsec_` signing secret, shown only here.",
        AUTH + BODY + ("webhooks_unavailable", "webhook_endpoint_limit_reached"),
        body="Where to deliver, and optionally which events.",
    ),
    "listWebhookEndpoints": Operation(
        "List the account's webhook endpoints", "The endpoints (without secrets).", AUTH
    ),
    "getWebhookEndpoint": Operation("Read one webhook endpoint", "The endpoint.", AUTH + BY_ID),
    "deleteWebhookEndpoint": Operation(
        "Remove a webhook endpoint", "Removed: nothing more is delivered to it.", AUTH + BY_ID
    ),
    "listWebhookDeliveries": Operation(
        "List an endpoint's deliveries",
        "A page of deliveries, newest first, each with its attempts.",
        AUTH + BY_ID,
    ),
    # admin
    "listPartners": Operation("List partners", "Every partner.", AUTH),
    "createPartner": Operation(
        "Create a partner",
        "The partner.",
        AUTH + BODY + IDEMPOTENT,
        body="The partner's name, type, and for a reseller its distributor or PSP.",
        idempotent=True,
    ),
    "getPartner": Operation("Read a partner", "The partner.", AUTH + BY_ID),
    "updatePartner": Operation(
        "Change a partner (freeze it, say)",
        "The partner as it is now.",
        AUTH + BY_ID + BODY,
        body="Only the fields sent change.",
    ),
    "createPartnerUser": Operation(
        "Add a person to a partner",
        "The person.",
        AUTH + BY_ID + BODY + IDEMPOTENT + ("email_taken",),
        body="The person's name, email and permissions.",
        idempotent=True,
    ),
    "createCustomerUser": Operation(
        "Add a person to a customer",
        "The person.",
        AUTH + BY_ID + BODY + ("email_taken",),
        body="The person's name and email.",
    ),
    "invitePerson": Operation(
        "Invite a person to the console",
        "A one-time link to set a password, shown only here.",
        AUTH + BY_ID,
    ),
    "resetPersonMfa": Operation(
        "Reset a person's authenticator", "Reset: the person enrols again.", AUTH + BY_ID
    ),
    "createCustomer": Operation(
        "Create a customer",
        "The customer.",
        AUTH + BODY + IDEMPOTENT,
        body="The customer's name.",
        idempotent=True,
    ),
    "getCustomer": Operation("Read a customer", "The customer.", AUTH + BY_ID),
    "setCustomerStanding": Operation(
        "Set a customer's account standing",
        "The standing as stored.",
        AUTH + BY_ID + BODY,
        body="The facts the account check reads; absent ones are clean.",
    ),
    "getCustomerStanding": Operation(
        "Read a customer's account standing", "The standing.", AUTH + BY_ID
    ),
    "createAssociation": Operation(
        "Associate a customer with a partner",
        "The association, active.",
        AUTH + BODY + IDEMPOTENT + ("customer_already_associated",),
        body="The partner, the customer and the association type.",
        idempotent=True,
    ),
    "getAssociationAsOperator": Operation("Read any association", "The association.", AUTH + BY_ID),
    "changeAssociationType": Operation(
        "Change an association's type (recorded)",
        "The association as it is now.",
        AUTH + BY_ID + BODY + ("request_pending",),
        body="The new type, and why.",
    ),
    "createToken": Operation(
        "Make a token",
        "The token, shown only here.",
        AUTH + BODY,
        body="Whom the token stands for, and when it expires.",
    ),
    "listTokens": Operation("List tokens", "Every token (never the token itself).", AUTH),
    "revokeToken": Operation("Revoke a token", "Revoked: it is refused at once.", AUTH + BY_ID),
    "listAuditLog": Operation(
        "Read the audit log", "A page of operators' and settings' changes.", AUTH + QUERY
    ),
    # health
    "getMetrics": Operation(
        "Prometheus metrics",
        "The API's metrics in the Prometheus text format.",
        example="# TYPE assocflow_http_requests_total counter\n"
        'assocflow_http_requests_total{method="GET",route="/healthz",status="200"} 1.0\n',
    ),
    "getLiveness": Operation("Liveness", "The process is up.", example={"status": "ok"}),
    "getReadiness": Operation(
        "Readiness",
        "PostgreSQL and Temporal both answer.",
        ("not_ready",),
        example={"status": "ready", "checks": {"postgres": "ok", "temporal": "ok"}},
    ),
}

# --- examples of the bodies -----------------------------------------------------------------

PARTNER = "00000000-0000-4000-8000-000000000102"
CUSTOMER = "00000000-0000-4000-8000-000000000301"
ASSOCIATION = "00000000-0000-4000-8000-000000000401"
REQUEST = "6f1f5bd2-3c57-4b8e-9a43-2f0d8f1c9b7e"
REQUEST_EXAMPLE = {
    "id": REQUEST,
    "association_id": ASSOCIATION,
    "partner_id": PARTNER,
    "customer_id": CUSTOMER,
    "initiator": "customer",
    "status": "pending",
    "reason": "We are moving to another partner",
    "submitted_at": "2026-03-02T09:30:00Z",
    "respond_by": "2026-03-12T09:30:00Z",
    "decided_at": None,
    "decided_by": None,
    "decision_reason": None,
}
TYPE_CHANGE_EXAMPLE = {
    **REQUEST_EXAMPLE,
    "id": "8a2e6c1d-4b7f-4e9a-9c3d-1f5b7a9c2e4d",
    "from_type": "resale",
    "new_type": "referral",
}
NEW_PARTNER = "00000000-0000-4000-8000-000000000103"
PARTNER_CHANGE_EXAMPLE: dict[str, Any] = {
    "id": "3c9d1e7f-2a4b-4c6d-8e0f-1a2b3c4d5e6f",
    "association_id": ASSOCIATION,
    "customer_id": CUSTOMER,
    "current_partner_id": PARTNER,
    "new_partner_id": NEW_PARTNER,
    "status": "completed",
    "reason": "Our new reseller covers our region",
    "submitted_at": "2026-03-02T09:30:00Z",
    "respond_by": "2026-03-12T09:30:00Z",
    "current_partner_decision": {
        "decision": "agree",
        "at": "2026-03-02T16:00:00Z",
        "by": "partner_user:00000000-0000-4000-8000-000000000202",
        "reason": "Good luck with your new partner",
    },
    "new_partner_decision": {
        "decision": "accept",
        "at": "2026-03-03T14:05:00Z",
        "by": "partner_user:00000000-0000-4000-8000-000000000206",
        "reason": None,
        "association_type": "resale",
    },
    "new_association_id": "00000000-0000-4000-8000-000000000409",
    "completed_at": "2026-03-03T14:05:00Z",
}
ENDPOINT_EXAMPLE = {
    "id": "0b9d3c1e-5f7a-4c2b-8d6e-1a2b3c4d5e6f",
    "url": "https://hooks.example.com/assocflow",
    "description": "Our CRM",
    "event_types": ["disassociation.requested", "disassociation.agreed"],
    "enabled": True,
    "disabled_reason": None,
    "created_at": "2026-03-01T12:00:00Z",
}
DELIVERY_EXAMPLE = {
    "id": "3e1c2f1a-9b7d-4e5f-a1b2-c3d4e5f60718",
    "webhook_id": "msg_2c1e4b0f9a8d4c7e8b6a5d4c3b2a1f0e",
    "notification_id": "2c1e4b0f-9a8d-4c7e-8b6a-5d4c3b2a1f0e",
    "event_type": "disassociation.requested",
    "status": "delivered",
    "attempts": 2,
    "last_status": 204,
    "last_error": None,
    "next_attempt_at": None,
    "delivered_at": "2026-03-02T09:30:07Z",
    "created_at": "2026-03-02T09:30:00Z",
    "attempt_log": [
        {
            "attempt": 1,
            "attempted_at": "2026-03-02T09:30:01Z",
            "status_code": 503,
            "error": None,
            "duration_ms": 38,
        },
        {
            "attempt": 2,
            "attempted_at": "2026-03-02T09:30:07Z",
            "status_code": 204,
            "error": None,
            "duration_ms": 21,
        },
    ],
}
STANDING_EXAMPLE = {
    "frozen": False,
    "arrears": "0",
    "orders_awaiting_partner_payment": 0,
    "active_reserved_instances": 0,
    "unused_vouchers": 0,
    "independent_accounting_members": 0,
    "active_support_plan": False,
    "special_contract": False,
    "currency_set": True,
}
PARTNER_EXAMPLE = {
    "id": PARTNER,
    "name": "Contoso Cloud Services",
    "type": "reseller",
    "parent_partner_id": "00000000-0000-4000-8000-000000000101",
    "frozen": False,
    "verification_required": False,
    "created_at": "2026-01-05T08:00:00Z",
}
TOKEN_EXAMPLE = {
    "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "subject_kind": "partner_user",
    "subject_id": "00000000-0000-4000-8000-000000000202",
    "label": "reporting job",
    "created_by": "operator:alice",
    "created_at": "2026-03-01T10:00:00Z",
    "expires_at": "2026-03-31T10:00:00Z",
    "revoked_at": None,
}
ASSOCIATION_EXAMPLE = {
    "id": ASSOCIATION,
    "partner_id": PARTNER,
    "customer_id": CUSTOMER,
    "association_type": "resale",
    "status": "active",
    "associated_at": "2025-06-01T00:00:00Z",
    "ended_at": None,
}
CURSOR = "eyJrIjpbIjIwMjYtMDMtMDJUMDk6MzA6MDBaIl19"

# Each component schema a body is: an example of it. Pages and lists are made from their items'.
EXAMPLES: dict[str, Any] = {
    "Association": ASSOCIATION_EXAMPLE,
    "CheckBody": {"association_id": ASSOCIATION},
    "CheckResult": {
        "passed": False,
        "items": [
            {"code": "association_active", "passed": True, "message": "The association is active."},
            {
                "code": "no_arrears",
                "passed": False,
                "message": "The customer's account is in arrears: settle the balance first.",
            },
        ],
        "next_allowed_at": None,
    },
    "SubmitBody": {
        "association_id": ASSOCIATION,
        "reason": "We are moving to another partner",
        "acknowledged": True,
    },
    "DisassociationRequest": REQUEST_EXAMPLE,
    "TypeChangeCheckBody": {"association_id": ASSOCIATION, "new_type": "referral"},
    "TypeChangeBody": {
        "association_id": ASSOCIATION,
        "new_type": "referral",
        "reason": "We now buy directly and only want your advice",
        "acknowledged": True,
    },
    "TypeChangeRequest": TYPE_CHANGE_EXAMPLE,
    "PartnerChangeCheckBody": {"association_id": ASSOCIATION, "new_partner_id": NEW_PARTNER},
    "PartnerChangeBody": {
        "association_id": ASSOCIATION,
        "new_partner_id": NEW_PARTNER,
        "reason": "Our new reseller covers our region",
        "acknowledged": True,
    },
    "PartnerChangeRequest": PARTNER_CHANGE_EXAMPLE,
    "PartnerAnswer": PARTNER_CHANGE_EXAMPLE["current_partner_decision"],
    "NewPartnerAnswer": PARTNER_CHANGE_EXAMPLE["new_partner_decision"],
    "AcceptBody": {"association_type": "resale", "verification_code": "492039"},
    "DeclineBody": {"reason": "We do not serve this region"},
    "AgreeBody": {"reason": "Thank you for working with us", "verification_code": "492039"},
    "RejectBody": {"reason": "We still need your support this quarter"},
    "WithdrawBody": {"reason": "Entered by mistake"},
    "Record": {
        "id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
        "kind": "disassociation",
        "action": "agreed",
        "association_id": ASSOCIATION,
        "partner_id": PARTNER,
        "customer_id": CUSTOMER,
        "request_id": REQUEST,
        "status": "agreed",
        "actor": "partner_user:00000000-0000-4000-8000-000000000202",
        "reason": "Thank you for working with us",
        "before": None,
        "after": None,
        "occurred_at": "2026-03-03T14:05:00Z",
    },
    "AccountSettings": {
        "verification_required": True,
        "service_tokens_may_decide": False,
        "language": "en",
    },
    "SettingsPatch": {"verification_required": True, "language": "zh-Hans"},
    "Notification": {
        "id": "2c1e4b0f-9a8d-4c7e-8b6a-5d4c3b2a1f0e",
        "event_type": "disassociation.requested",
        "summary": "Fabrikam asks to end its association with Contoso Cloud Services.",
        "request_id": REQUEST,
        "association_id": ASSOCIATION,
        "payload": {"request": REQUEST_EXAMPLE},
        "created_at": "2026-03-02T09:30:00Z",
        "read_at": None,
    },
    "MfaStatus": {
        "enrolled": True,
        "confirmed_at": "2026-02-20T16:00:00Z",
        "recovery_codes_left": 10,
    },
    "Enrolment": {
        "otpauth_uri": "otpauth://totp/assocflow:admin%40contoso.example"
        "?secret=JBSWY3DPEHPK3PXP&issuer=assocflow",
        "qr_svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 37 37">…</svg>',
    },
    "Confirmation": {"code": "492039"},
    "RecoveryCodes": {"recovery_codes": ["7kq2-m9xd-4hvp", "p3rt-82wc-ny6f"]},
    "EndpointIn": {
        "url": "https://hooks.example.com/assocflow",
        "description": "Our CRM",
        "event_types": ["disassociation.requested", "disassociation.agreed"],
    },
    "Endpoint": ENDPOINT_EXAMPLE,
    "NewEndpoint": {**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "Delivery": DELIVERY_EXAMPLE,
    "Partner": PARTNER_EXAMPLE,
    "PartnerIn": {
        "name": "Contoso Cloud Services",
        "type": "reseller",
        "parent_partner_id": "00000000-0000-4000-8000-000000000101",
    },
    "PartnerPatch": {"frozen": True},
    "PartnerUserIn": {
        "name": "Ana Processor",
        "email": "processor@contoso.example",
        "permissions": ["associations:read", "disassociations:process"],
    },
    "PartnerUser": {
        "id": "00000000-0000-4000-8000-000000000205",
        "partner_id": PARTNER,
        "name": "Ana Processor",
        "email": "processor@contoso.example",
        "permissions": ["associations:read", "disassociations:process"],
        "created_at": "2026-01-05T08:10:00Z",
    },
    "CustomerUserIn": {"name": "Bo Fabrikam", "email": "it@fabrikam.example"},
    "CustomerUser": {
        "id": "7c6b5a49-3827-4165-9f4e-3d2c1b0a9f8e",
        "customer_id": CUSTOMER,
        "name": "Bo Fabrikam",
        "email": "it@fabrikam.example",
        "created_at": "2026-01-06T09:00:00Z",
    },
    "NewInvitation": {
        "person_id": "00000000-0000-4000-8000-000000000205",
        "url": "https://assocflow.example.com/console/invitation/iv_Q2hhbmdlIG1l",
        "expires_at": "2026-03-09T10:00:00Z",
    },
    "CustomerIn": {"name": "Fabrikam"},
    "Customer": {
        "id": CUSTOMER,
        "name": "Fabrikam",
        "verification_required": False,
        "created_at": "2026-01-05T08:20:00Z",
    },
    "Standing": {"arrears": 120.5, "currency_set": True},
    "StandingOut": {
        **STANDING_EXAMPLE,
        "customer_id": CUSTOMER,
        "updated_at": "2026-03-01T10:00:00Z",
    },
    "AccountStanding": STANDING_EXAMPLE,
    "AssociationIn": {
        "partner_id": PARTNER,
        "customer_id": CUSTOMER,
        "association_type": "resale",
    },
    "AssociationPatch": {"association_type": "referral", "reason": "Moved to the referral model"},
    "TokenIn": {
        "subject_kind": "partner_user",
        "subject_id": "00000000-0000-4000-8000-000000000202",
        "expires_at": "2026-03-31T10:00:00Z",
        "label": "reporting job",
    },
    "Token": TOKEN_EXAMPLE,
    "NewToken": {**TOKEN_EXAMPLE, "token": "af_2Qm9cT0kZp6WlH1xV3bN8rYsJ4eUoA7d"},
    "AuditEntry": {
        "id": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
        "actor": "operator:alice",
        "action": "partner.updated",
        "target_kind": "partner",
        "target_id": PARTNER,
        "before": {"frozen": False},
        "after": {"frozen": True},
        "occurred_at": "2026-03-01T10:00:00Z",
    },
    "AdminAgreeBody": {"reason": "Confirmed with the customer by phone"},
    "AdminReasonBody": {"reason": "Entered twice by mistake"},
}

RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "The requests the window allows (per account).",
    "RateLimit-Remaining": "The requests left in the current window.",
    "RateLimit-Reset": "Seconds until the window resets.",
}


def _integer_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


def example_of(schema: dict[str, Any]) -> Any:
    """The example of a schema the document names: a component, a page of one, a list of one."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(REF)
        if name.startswith("Page_"):
            item = name.removeprefix("Page_").removesuffix("_")
            return {"items": [EXAMPLES[item]], "next_cursor": CURSOR}
        return EXAMPLES[name]
    if schema.get("type") == "array":
        return [example_of(schema["items"])]
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return example_of(option)
    raise KeyError(f"no example for the schema {schema}")


def problem_example(code: str) -> dict[str, Any]:
    detail, extra = PROBLEMS[code]
    status = status_of(code)
    return {
        "type": f"urn:assocflow:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


def _error_responses(operation: Operation) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(operation.errors):
        by_status.setdefault(status_of(code), []).append(code)
    responses = {}
    for status, codes in sorted(by_status.items()):
        listed = ", ".join(f"`{code}`" for code in codes)
        response: dict[str, Any] = {
            "description": f"{MEANING[status]} Problem codes: {listed}.",
            "x-problem-codes": codes,
            "content": {
                "application/problem+json": {
                    "schema": {"$ref": f"{REF}ProblemDetail"},
                    "examples": {
                        code: {"summary": f"`{code}`", "value": problem_example(code)}
                        for code in codes
                    },
                }
            },
        }
        headers: dict[str, Any] = {"Content-Language": CONTENT_LANGUAGE}
        if status == 401:
            headers["WWW-Authenticate"] = {
                "description": "`Bearer`: send a token.",
                "schema": {"type": "string"},
            }
        if status in (429, 503) or (status == 409 and "idempotency_key_in_use" in codes):
            headers["Retry-After"] = _integer_header("Seconds to wait before trying again.")
        if status == 429 and operation.rate_limited:
            headers |= {name: _integer_header(text) for name, text in RATE_LIMIT_HEADERS.items()}
        response["headers"] = headers
        responses[str(status)] = response
    return responses


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send the same key again (with the same body) to get the first answer again,"
    " marked `Idempotent-Replayed: true`; kept 24 hours, per caller.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
    "example": "3f1e9a52-8c1d-4d7b-9b8e-0a6c2d4f5e71",
}


# The words of a problem (`title`, `detail`, a check item's `message`) are in the caller's
# language (api/problems.py); its `code` and every other member are the same in any.
ACCEPT_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "The language of the words people read in the answer — a problem's `title`"
    " and `detail`, an account check's `message`s: Simplified Chinese for `zh-Hans` (or `zh`,"
    " `zh-CN`), else English. Codes and data are the same in every language.",
    "schema": {"type": "string"},
    "example": "zh-CN, en;q=0.8",
}
CONTENT_LANGUAGE = {
    "description": "The language of the problem's words: `en` or `zh-Hans` (`Accept-Language`).",
    "schema": {"type": "string", "enum": ["en", "zh-Hans"]},
}


def _document_operation(operation_id: str, spec: dict[str, Any]) -> None:
    operation = OPERATIONS[operation_id]
    spec["summary"] = operation.summary
    if not spec.get("description"):
        raise ValueError(f"{operation_id}: its route has no docstring to describe it")
    body = spec.get("requestBody")
    if body is not None:
        if operation.body is None:
            raise ValueError(f"{operation_id}: the table does not describe its body")
        body["description"] = operation.body
        media = body["content"]["application/json"]
        media["example"] = example_of(media["schema"])
    elif operation.body is not None:
        raise ValueError(f"{operation_id}: the table describes a body it does not take")
    responses = spec["responses"]
    for status in [s for s in responses if s >= "400"]:
        del responses[status]  # FastAPI's own 422, or a decorator's: the table says
    for response in responses.values():
        response["description"] = operation.ok
        for media_type, media in response.get("content", {}).items():
            if operation.example is not None:
                media["example"] = operation.example
            elif media_type == "application/json":
                media["example"] = example_of(media["schema"])
            elif media_type == records.CSV_MEDIA_TYPE:
                media["example"] = records.to_csv([Record.model_validate(EXAMPLES["Record"])])
        if operation.rate_limited:
            response["headers"] = {
                name: _integer_header(f"{text} Present when a rate limit applied to the request.")
                for name, text in RATE_LIMIT_HEADERS.items()
            }
    responses.update(_error_responses(operation))
    if operation.idempotent:
        parameters = spec.setdefault("parameters", [])
        parameters[:] = [p for p in parameters if p["name"].lower() != "idempotency-key"]
        parameters.append(IDEMPOTENCY_KEY)
    if operation.errors:
        spec.setdefault("parameters", []).append(ACCEPT_LANGUAGE)
    for parameter in spec.get("parameters", ()):
        if "description" not in parameter:
            parameter["description"] = PARAMETERS.get(parameter["name"], "")


# What each parameter is, by name (the routes share them).
PARAMETERS = {
    "association_id": "An association's id.",
    "request_id": "A disassociation request's id.",
    "notification_id": "A notification's id.",
    "endpoint_id": "A webhook endpoint's id.",
    "partner_id": "A partner's id.",
    "customer_id": "A customer's id (as a filter: only this customer's).",
    "person_id": "A person's id (a partner's or a customer's user).",
    "token_id": "A token's id.",
    "limit": "At most this many items (1 to 100).",
    "cursor": "The `next_cursor` of the previous page; absent for the first page.",
    "status": "Only those with this status.",
    "association_type": "Only associations of this type.",
    "initiator": "Only requests this side started.",
    "unread": "`true`: only the unread notifications.",
    "kind": "Only records of this kind.",
    "from": "Only records at or after this time.",
    "to": "Only records before this time.",
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with the tables applied."""
    schema = copy.deepcopy(schema)
    operation_ids = [
        spec["operationId"] for ops in schema["paths"].values() for spec in ops.values()
    ]
    missing = set(operation_ids) - set(OPERATIONS)
    stale = set(OPERATIONS) - set(operation_ids)
    if missing or stale:
        raise ValueError(
            f"api/openapi.py OPERATIONS: no row for {sorted(missing)} (name the route's"
            f" operation_id), no route for {sorted(stale)}"
        )
    for methods in schema["paths"].values():
        for spec in methods.values():
            _document_operation(spec["operationId"], spec)
    webhook_events.document(schema.get("webhooks", {}))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ProblemDetail"] = ProblemDetail.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    """Serve the document made from FastAPI's and the tables (`document` refuses a route without
    a row, and a row without a route)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                    webhooks=app.webhooks.routes,
                    tags=TAGS,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
