"""What crosses the Temporal boundary and is recorded in workflow histories: the workflow's input
and result, its messages, its activities' inputs and results; and what Temporal indexes and
counts of a request (its search attributes, the metric names the workflow records through the
worker's runtime), which the runtime glue registers.

These models change only compatibly (a new field has a default; nothing is renamed or removed),
because running workflows replay their histories with them. They are separate from the HTTP
responses and the webhook payloads: a field added to those never reaches a history. `snapshot_of` is the one mapping from the store's request to what
histories carry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from domain.kinds import Consenter
from domain.types import (
    AccountStanding,
    Actor,
    AssociationType,
    CheckResult,
    ConsentGiven,
    Policy,
    Request,
    RequestKind,
    RequestStatus,
    Side,
)

# The workflow type every request runs as, whatever its kind (the `RequestKind` search attribute
# and the workflow id tell the kinds apart).
REQUEST_WORKFLOW = "AssociationRequest"
# The reconciler's short workflow (auto-upgrade: it is never pinned).
RECONCILE_WORKFLOW = "Reconcile"


class SubmitCommand(BaseModel):
    """Everything the workflow needs to run one request; the input of the workflow."""

    request_id: UUID
    association_id: UUID
    partner_id: UUID
    customer_id: UUID
    partner_name: str
    customer_name: str
    association_type: AssociationType
    initiator: Side
    requested_by: Actor
    reason: str
    policy: Policy
    kind: RequestKind = RequestKind.DISASSOCIATION
    # A type change: the type asked for (`association_type` is the type it changes from).
    new_type: AssociationType | None = None
    # A partner change: the partner the customer moves to.
    new_partner_id: UUID | None = None
    new_partner_name: str | None = None
    # The customer's standing as the API's account check read it, a moment before the start:
    # the acceptance checks the association again under its lock, on this standing, instead of
    # reading it again (None: the acceptance reads it, as for a command of an earlier build).
    standing: AccountStanding | None = None


class RequestSnapshot(BaseModel):
    """A request as an activity read or wrote it."""

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
    kind: RequestKind = RequestKind.DISASSOCIATION
    from_type: AssociationType | None = None
    new_type: AssociationType | None = None
    new_partner_id: UUID | None = None
    current_partner_decision: ConsentGiven | None = None
    new_partner_decision: ConsentGiven | None = None
    new_association_id: UUID | None = None
    completed_at: datetime | None = None
    # The id of the `decide` Update whose decision settled the request, when one did.
    decision_id: str | None = None


def snapshot_of(request: Request, decision_id: str | None = None) -> RequestSnapshot:
    """The request as histories record it: its fields, by name (tests/unit/test_request_models.py
    holds the models field by field), and the decision that settled it."""
    snapshot = RequestSnapshot.model_validate(request, from_attributes=True)
    return snapshot.model_copy(update={"decision_id": decision_id})


class Admission(BaseModel):
    """The answer to a submit: accepted with the new request, or refused with the check."""

    accepted: bool
    check: CheckResult
    request: RequestSnapshot | None = None


CHECK_FAILED = "check_failed"


class Outcome(Admission):
    """How a request's workflow ended: `outcome` is `check_failed` or the request's final status.

    An Admission with its outcome named, so that the result of a workflow that ended before the
    outcome was named still reads as one.
    """

    outcome: RequestStatus | Literal["check_failed"] | None = None


class OperatorDecision(BaseModel):
    """Payload of the operators' `agree`/`reject` signals, typed in the Temporal UI or CLI.

    Example: {"operator": "alice@ops", "reason": "Confirmed with the partner by phone"}
    """

    # The name typed in the Temporal UI: kept, marked unverified ("anonymous" when none was).
    operator: str = Field(default="anonymous", min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


class RequestState(BaseModel):
    """What the workflow's `state` query returns."""

    admission: Admission | None = None
    request: RequestSnapshot | None = None
    settling_as: RequestStatus | None = None


# --- activities ----------------------------------------------------------------------------------


class AcceptInput(BaseModel):
    command: SubmitCommand
    accepted_at: datetime


class GivenConsent(BaseModel):
    """One party's answer, and whose it is."""

    who: Consenter
    given: ConsentGiven


class SettleInput(BaseModel):
    request_id: UUID
    outcome: RequestStatus
    actor: Actor
    reason: str | None = None
    decided_at: datetime
    # The id of the `decide` Update that carried the decision, stored with the outcome.
    decision_id: str | None = None
    # The answers given (a request that awaits more than one consent), this decision's among them.
    consents: list[GivenConsent] = Field(default_factory=list)


class ConsentInput(BaseModel):
    """One consent of several, to record while the request stays pending."""

    request_id: UUID
    consent: GivenConsent
    # What the deadline brings now that this consent is given.
    on_timeout: RequestStatus
    decision_id: str | None = None


class ReminderInput(BaseModel):
    request_id: UUID
    at: datetime


class ReconcileInput(BaseModel):
    """One round of the reconciler: requests pending in PostgreSQL whose workflow closed without
    an outcome are settled as cancelled."""

    # How far back to look for closed workflows whose request is still pending.
    lookback_hours: int = 24 * 7
    # How long after its deadline a pending request's workflow is looked up directly.
    overdue_grace_seconds: int = 60
    batch: int = 200


class ReconcileResult(BaseModel):
    repaired: list[UUID] = Field(default_factory=list)


# --- search attributes ---------------------------------------------------------------------------

PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ASSOCIATION_ID = SearchAttributeKey.for_keyword("AssociationId")
INITIATOR = SearchAttributeKey.for_keyword("Initiator")
REQUEST_STATUS = SearchAttributeKey.for_keyword("RequestStatus")
RESPOND_BY = SearchAttributeKey.for_datetime("RespondBy")
REQUEST_KIND = SearchAttributeKey.for_keyword("RequestKind")
NEW_PARTNER_ID = SearchAttributeKey.for_keyword("NewPartnerId")

SEARCH_ATTRIBUTES = (
    PARTNER_ID,
    CUSTOMER_ID,
    ASSOCIATION_ID,
    INITIATOR,
    REQUEST_STATUS,
    RESPOND_BY,
    REQUEST_KIND,
    NEW_PARTNER_ID,
)

# RequestStatus also takes a value of its own while a request is being accepted (and
# `check_failed`, above, when it is refused).
CHECKING = "checking"


def initial_search_attributes(cmd: SubmitCommand) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(PARTNER_ID, str(cmd.partner_id)),
        SearchAttributePair(CUSTOMER_ID, str(cmd.customer_id)),
        SearchAttributePair(ASSOCIATION_ID, str(cmd.association_id)),
        SearchAttributePair(INITIATOR, cmd.initiator.value),
        SearchAttributePair(REQUEST_KIND, cmd.kind.value),
        SearchAttributePair(REQUEST_STATUS, CHECKING),
    ]
    if cmd.new_partner_id is not None:
        pairs.append(SearchAttributePair(NEW_PARTNER_ID, str(cmd.new_partner_id)))
    return TypedSearchAttributes(pairs)


# --- metrics the worker's runtime exports (names without the exporter's suffixes) -----------------

REQUESTS_ACCEPTED = "assocflow_requests_accepted"
REQUESTS_SETTLED = "assocflow_requests_settled"
DECISION_LATENCY = "assocflow_decision_latency_seconds"
REMINDERS_SENT = "assocflow_reminders_sent"
WEBHOOK_DELIVERIES = "assocflow_webhook_deliveries"
# Requests the reconciler settled as cancelled, by cause (terminated, failed, timed_out, ...).
REQUESTS_RECONCILED = "assocflow_requests_reconciled"

# From submission to outcome: minutes to the whole response window (days).
DECISION_LATENCY_BUCKETS = [
    60,
    600,
    3600,
    6 * 3600,
    86400,
    2 * 86400,
    5 * 86400,
    10 * 86400,
    30 * 86400,
]
