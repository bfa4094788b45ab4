"""Request and response bodies of the HTTP API (the SPEC's field names)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, Self, TypeVar
from uuid import UUID

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from domain import types as domain
from domain.types import (
    REASON_MAX_LENGTH,
    AccountStanding,
    Association,
    AssociationType,
    CheckResult,
    DecisionAction,
    PartnerType,
    Party,
    Permission,
    RequestStatus,
    Side,
)

# Responses that show a row as stored are the store's row models themselves.
from store.rows import AuditEntry, Customer, Partner, PartnerUser, Record, Token

T = TypeVar("T")

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX_LENGTH)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Limit = Annotated[int, Field(ge=1, le=100)]


def _without_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain the NUL character")
    if isinstance(value, dict):
        for item in value.values():
            _without_nul(item)
    elif isinstance(value, list):
        for item in value:
            _without_nul(item)
    return value


class Body(BaseModel):
    """A request body: unknown members and NUL characters (which PostgreSQL cannot store) are
    refused with 422."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _without_nul(data)


class ProblemDetail(BaseModel):
    """An RFC 9457 problem document; `code` is stable, other members depend on it."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


class RequestView(BaseModel):
    """A request in an HTTP response: each kind's model is the HTTP responses' own (the SPEC's
    field names), so that a field added here reaches neither workflow histories
    (contract/__init__.py) nor webhook payloads (domain/events.py)."""

    @classmethod
    def of(cls, request: domain.Request, party: Party | None = None) -> Self:
        """What `party` (None: an operator) may read of `request`."""
        # By name: tests/unit/test_request_models.py holds the models field by field.
        return cls.model_validate(request.as_read_by(party), from_attributes=True)


class RequestOut(RequestView):
    """What a disassociation and a type change read in common."""

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


class DisassociationRequest(RequestOut):
    """A disassociation request."""


class TypeChangeRequest(RequestOut):
    """An association type change request: from which type to which."""

    from_type: AssociationType
    new_type: AssociationType


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class CheckBody(Body):
    association_id: UUID

    def asked_type(self) -> AssociationType | None:
        """The type a type change asks for; none for the other kinds."""
        return None

    def asked_partner(self) -> UUID | None:
        """The partner a partner change asks to move to; none for the other kinds."""
        return None


class SubmitBody(Body):
    association_id: UUID
    reason: Reason
    acknowledged: bool = Field(description='The "I understand the preceding statement" box.')
    verification_code: str | None = Field(default=None, max_length=32)

    @field_validator("acknowledged")
    @classmethod
    def _must_acknowledge(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true: the initiator has to acknowledge the statement")
        return value

    def asked_type(self) -> AssociationType | None:
        """The type a type change asks for; none for the other kinds."""
        return None

    def asked_partner(self) -> UUID | None:
        """The partner a partner change asks to move to; none for the other kinds."""
        return None


class TypeChangeCheckBody(CheckBody):
    new_type: AssociationType = Field(description="The association type asked for.")

    def asked_type(self) -> AssociationType:
        return self.new_type


class TypeChangeBody(SubmitBody):
    new_type: AssociationType = Field(description="The association type asked for.")

    def asked_type(self) -> AssociationType:
        return self.new_type


class PartnerAnswer(BaseModel):
    """A partner's answer to a partner change."""

    decision: DecisionAction
    at: datetime
    by: str
    reason: str | None = None


class NewPartnerAnswer(PartnerAnswer):
    """The new partner's answer: accepting, it chose the new association's type."""

    association_type: AssociationType | None = None


class PartnerChangeRequest(RequestView):
    """A customer's move to another partner: both partners' answers, and the association it
    began. The new partner never reads the current partner's reason."""

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


class PartnerChangeCheckBody(CheckBody):
    new_partner_id: UUID = Field(description="The new partner's id (its partner code).")

    def asked_partner(self) -> UUID:
        return self.new_partner_id


class PartnerChangeBody(SubmitBody):
    new_partner_id: UUID = Field(description="The new partner's id (its partner code).")

    def asked_partner(self) -> UUID:
        return self.new_partner_id


class DecisionBody(Body):
    """What a decision carries: a reason and, where the account requires it, the acting
    person's verification code."""

    reason: Reason | None = None
    verification_code: str | None = Field(default=None, max_length=32)

    def chosen_type(self) -> AssociationType | None:
        """The type of the new association a partner change's new partner chose; none for the
        other decisions."""
        return None


class AgreeBody(DecisionBody):
    pass


class RejectBody(DecisionBody):
    reason: Reason


class AcceptBody(DecisionBody):
    association_type: AssociationType | None = Field(
        default=None,
        description="The type of the new association; the current one's if absent.",
    )

    def chosen_type(self) -> AssociationType | None:
        return self.association_type


class DeclineBody(DecisionBody):
    reason: Reason


class WithdrawBody(Body):
    reason: Reason | None = None

    @property
    def verification_code(self) -> None:
        """Withdrawing one's own request needs no code."""
        return None

    def chosen_type(self) -> None:
        return None


# --- admin ----------------------------------------------------------------------------------


class PartnerIn(Body):
    name: Name
    type: PartnerType
    parent_partner_id: UUID | None = None
    frozen: bool = False


class PartnerPatch(Body):
    """Only the fields sent change. `parent_partner_id: null` takes the parent away; the other
    fields always have a value, so null for them is 422 (leave a field out to keep it)."""

    name: Name | SkipJsonSchema[None] = None
    type: PartnerType | SkipJsonSchema[None] = None
    parent_partner_id: UUID | None = None
    frozen: bool | SkipJsonSchema[None] = None

    @field_validator("name", "type", "frozen", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields that are sent: an absent field keeps its default, None.
        if value is None:
            raise ValueError("must not be null; leave the field out to keep its value")
        return value


# An address to sign in with: one @, a dot in the domain, no spaces; kept in lower case.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


class PartnerUserIn(Body):
    name: Name
    email: Email
    permissions: list[Permission | Literal["admin"]] = Field(
        min_length=1, max_length=len(Permission) + 1
    )


class CustomerIn(Body):
    name: Name


class CustomerUserIn(Body):
    name: Name
    email: Email


# A count the database keeps as an `integer`.
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


class Standing(AccountStanding):
    model_config = ConfigDict(extra="forbid")

    orders_awaiting_partner_payment: Count = 0
    active_reserved_instances: Count = 0
    unused_vouchers: Count = 0
    independent_accounting_members: Count = 0


class StandingOut(AccountStanding):
    customer_id: UUID
    updated_at: datetime


class AssociationIn(Body):
    partner_id: UUID
    customer_id: UUID
    association_type: AssociationType


class AssociationPatch(Body):
    association_type: AssociationType
    reason: Reason | None = None


# Times the database stores and reads back whatever the offset or the session's time zone: a day
# inside the years 1 to 9999.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=1)


class TokenIn(Body):
    subject_kind: Literal[
        "operator", "partner_user", "customer_user", "partner_service", "customer_service",
        "customer",
    ] = Field(
        description="Whom the token stands for: an operator, a person (partner or customer"
        " user), or an account (its service token). `customer` is a customer's service token."
    )  # fmt: skip
    subject_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ] = Field(
        description="An operator's name, or the id of the person or account (any form of UUID;"
        " it is stored in the canonical lower-case, hyphenated form)."
    )
    expires_at: datetime | None = None
    label: Name | None = None

    @field_validator("expires_at")
    @classmethod
    def _storable(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError:
            utc = None
        if utc is None or not _EARLIEST <= utc <= _LATEST:
            raise ValueError("must be a time between the years 1 and 9999")
        return value


class NewToken(Token):
    token: str = Field(description="The token itself. It is shown only in this response.")


class NewInvitation(BaseModel):
    """A one-time link for a person to set their console password, then enrol an authenticator."""

    person_id: UUID
    url: str = Field(
        description="The link to give the person. It works once, until `expires_at`; it is shown"
        " only in this response, and a newer invitation replaces it."
    )
    expires_at: datetime


__all__ = [
    "Association",
    "AuditEntry",
    "CheckResult",
    "Customer",
    "Partner",
    "PartnerUser",
    "Record",
    "Token",
]
