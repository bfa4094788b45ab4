"""The rows store queries return, where no domain model (domain/types.py) describes them.

Each query builds its rows with psycopg's `class_row`, so a field here is named like the column
(or alias) of the query that returns it. Pydantic models are the rows the API shows: those it
shows as they are carry the API's names, and api/schemas.py serves these very classes. Frozen
dataclasses are the rows only the code reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from domain.types import (
    AccountStanding,
    Association,
    PartnerType,
    Request,
    RequestKind,
    RequestStatus,
    Side,
)

# --- accounts --------------------------------------------------------------------------------


class Partner(BaseModel):
    id: UUID
    name: str
    type: PartnerType
    parent_partner_id: UUID | None
    frozen: bool
    verification_required: bool
    created_at: datetime


class PartnerUser(BaseModel):
    id: UUID
    partner_id: UUID
    name: str
    email: str | None = None
    permissions: list[str]
    created_at: datetime


class CustomerUser(BaseModel):
    id: UUID
    customer_id: UUID
    name: str
    email: str | None = None
    created_at: datetime


@dataclass(frozen=True)
class Person:
    """A partner user or a customer user, with its account."""

    id: UUID
    kind: str  # "partner_user" | "customer_user"
    email: str | None
    name: str
    partner_id: UUID | None
    customer_id: UUID | None


# The languages an account's messages can be written in (assocflow/i18n.py LANGUAGES).
AccountLanguage = Literal["en", "zh-Hans"]


class AccountSettings(BaseModel):
    """An account's own settings (GET/PATCH /v1/settings)."""

    verification_required: bool
    service_tokens_may_decide: bool = False
    language: AccountLanguage = Field(
        default="en",
        description="The language the account's messages (the message center) are written in,"
        " each when it is written: `en` (English) or `zh-Hans` (Simplified Chinese).",
    )


@dataclass(frozen=True)
class PartnerUserDetail:
    """A partner user with its partner's type and settings."""

    id: UUID
    partner_id: UUID
    name: str
    permissions: list[str]
    partner_type: str
    verification_required: bool


class Customer(BaseModel):
    id: UUID
    name: str
    verification_required: bool
    created_at: datetime


class CustomerStanding(AccountStanding):
    """A customer's standing as stored, with when it last changed."""

    customer_id: UUID
    updated_at: datetime


# --- tokens ----------------------------------------------------------------------------------


class Token(BaseModel):
    id: UUID
    subject_kind: str
    subject_id: str
    label: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenSubject:
    """Who a valid token stands for and what authorization needs of it: for the partner side (a
    partner user, or the partner's service token) the partner, its type, the user's permissions
    and the resellers under the partner; for the customer side (a customer user, or the
    customer's service token) the customer; and the account's settings. `partner_id` and
    `customer_id` are both None when the person or account no longer exists."""

    subject_kind: str
    subject_id: str
    partner_id: UUID | None
    partner_type: str | None
    permissions: list[str] | None
    customer_id: UUID | None
    verification_required: bool
    service_tokens_may_decide: bool
    child_partner_ids: list[UUID]


# --- associations and requests ---------------------------------------------------------------


class NamedAssociation(Association):
    """An association with its partner's and customer's names."""

    partner_name: str
    customer_name: str


class AssociationOverview(NamedAssociation):
    """An association with its parties' names and the request pending on it, if any."""

    pending_request_id: UUID | None = None
    pending_kind: RequestKind | None = None
    pending_initiator: Side | None = None
    pending_respond_by: datetime | None = None
    # A pending partner change the association's partner has answered already.
    pending_partner_answered: bool = False


class AssociationFacts(NamedAssociation):
    """An association with the names and the partners' states the account check reads."""

    partner_frozen: bool
    parent_partner_frozen: bool


@dataclass(frozen=True)
class RequestsSeen:
    """What the account check reads of an association's requests, seen in one snapshot."""

    pending_id: UUID | None
    pending_kind: str | None
    submitted: list[datetime]


@dataclass(frozen=True)
class RequestForDecision:
    """What deciding on a request needs to know of it, as stored."""

    id: UUID
    kind: RequestKind
    partner_id: UUID
    customer_id: UUID
    initiator: Side
    status: RequestStatus
    respond_by: datetime
    on_timeout: RequestStatus
    # A partner change: the partner the customer moves to, and which partners have answered.
    new_partner_id: UUID | None = None
    partner_answered: bool = False
    new_partner_answered: bool = False


class SettledRequest(Request):
    """A request as a settle left it, with the id of the decision that settled it (None for a
    deadline, a workflow cancellation, an operator's signal, the reconciler)."""

    decision_id: str | None = None


class NamedRequest(Request):
    """A request with its partner's and customer's names."""

    partner: str
    customer: str


class Record(BaseModel):
    id: UUID
    kind: Literal["association", "type_change", "disassociation", "partner_change"]
    action: str
    association_id: UUID
    partner_id: UUID
    customer_id: UUID
    request_id: UUID | None = None
    status: str | None = None
    actor: str
    reason: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    occurred_at: datetime


class AuditEntry(BaseModel):
    id: UUID
    actor: str
    action: str
    target_kind: str
    target_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    occurred_at: datetime


# --- notifications and webhooks --------------------------------------------------------------


class Notification(BaseModel):
    id: UUID
    event_type: str
    summary: str
    request_id: UUID | None = None
    association_id: UUID | None = None
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = None


class WebhookEndpoint(BaseModel):
    id: UUID
    owner_kind: str
    owner_id: UUID
    url: str
    description: str | None
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class DeliveryAttempt(BaseModel):
    delivery_id: UUID
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDelivery(BaseModel):
    """A delivery with the event it carries and, once read with them, its attempts."""

    id: UUID
    created_at: datetime
    notification_id: UUID
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    attempt_log: list[DeliveryAttempt] = Field(default_factory=list)


@dataclass(frozen=True)
class DueDelivery:
    """A delivery the relay has leased, with what it needs to send it."""

    id: UUID
    attempts: int
    endpoint_id: UUID
    notification_id: UUID
    url: str
    secret_encrypted: bytes
    payload: dict[str, Any]


# --- people's second factor -----------------------------------------------------------------


@dataclass(frozen=True)
class MfaEnrolment:
    person_id: UUID
    secret_encrypted: bytes
    created_at: datetime
    confirmed_at: datetime | None
    last_used_step: int | None


@dataclass(frozen=True)
class RecoveryCode:
    id: UUID
    code_hash: str


# --- signing in to the console --------------------------------------------------------------


@dataclass(frozen=True)
class SignInCandidate:
    """The person an email names, with what signing in needs: the password's hash (None until
    they accept an invitation) and whether they have a confirmed authenticator."""

    id: UUID
    kind: str  # "partner_user" | "customer_user"
    email: str
    password_hash: str | None
    enrolled: bool


@dataclass(frozen=True)
class SessionSubject(TokenSubject):
    """A console session with its person, and who they are as a token of theirs would say
    (`partner_id` and `customer_id` both None when the person's account no longer exists)."""

    person_id: UUID
    name: str
    email: str
    enrolled: bool
    verified: bool
    last_seen_at: datetime
    expires_at: datetime
    signed_out_at: datetime | None
    language: str | None  # the console's language the person chose (None: their browser's)
    account_name: str = ""  # the person's partner's or customer's
    unread: int = 0  # the account's unread notifications, up to what was asked for


@dataclass(frozen=True)
class OpenInvitation:
    """An unused invitation that has not expired, with the person it is for."""

    id: UUID
    person_id: UUID
    kind: str
    name: str
    email: str | None
    enrolled: bool
    expires_at: datetime


# --- idempotency keys -----------------------------------------------------------------------


@dataclass(frozen=True)
class IdempotencyKey:
    """A claimed key: its request, and the response once the request completed."""

    route: str
    body_hash: bytes
    started_at: datetime
    completed_at: datetime | None
    status_code: int | None
    headers: dict[str, str] | None
    body: bytes | None
    stale: bool
