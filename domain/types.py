"""Value types shared by the API, the workflow and the activities (Temporal payloads too)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Self, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.text import Text


class RequestKind(StrEnum):
    """The kinds of request the consent process runs (the `RequestKind` search attribute)."""

    DISASSOCIATION = "disassociation"
    TYPE_CHANGE = "type_change"
    PARTNER_CHANGE = "partner_change"

    @property
    def slug(self) -> str:
        """How the kind reads in a workflow id and a URL: `type-change`."""
        return self.value.replace("_", "-")


def workflow_id_for(kind: RequestKind, request_id: UUID) -> str:
    """Each request is one workflow; its id names the kind and the request so operators can find
    it (`type-change-<id>`)."""
    return f"{kind.slug}-{request_id}"


# Every event a notification (message center and webhook) can carry.
EventType = Literal[
    "disassociation.requested",
    "disassociation.reminder",
    "disassociation.agreed",
    "disassociation.auto_agreed",
    "disassociation.rejected",
    "disassociation.expired",
    "disassociation.withdrawn",
    "disassociation.cancelled",
    "association.ended",
    "type_change.requested",
    "type_change.reminder",
    "type_change.agreed",
    "type_change.rejected",
    "type_change.expired",
    "type_change.withdrawn",
    "type_change.cancelled",
    "association.type_changed",
    "partner_change.requested",
    "partner_change.reminder",
    "partner_change.accepted",
    "partner_change.declined",
    "partner_change.agreed",
    "partner_change.rejected",
    "partner_change.completed",
    "partner_change.expired",
    "partner_change.withdrawn",
    "partner_change.cancelled",
    "association.started",
    "verification.code",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class PartnerType(StrEnum):
    RESELLER = "reseller"
    DISTRIBUTOR = "distributor"
    PSP = "psp"


class Permission(StrEnum):
    ASSOCIATIONS_READ = "associations:read"
    DISASSOCIATIONS_SUBMIT = "disassociations:submit"
    DISASSOCIATIONS_PROCESS = "disassociations:process"
    TYPE_CHANGES_SUBMIT = "type_changes:submit"
    TYPE_CHANGES_PROCESS = "type_changes:process"
    PARTNER_CHANGES_PROCESS = "partner_changes:process"


ADMIN_ROLE = "admin"

# A reason (for asking for a change, or for a reject): 1 to 500 characters once trimmed.
REASON_MAX_LENGTH = 500


def reason_problem(reason: str | None) -> str | None:
    """What is wrong with a reason a person gave, in words for them; None if nothing is."""
    text = (reason or "").strip()
    if not text:
        return Text("Enter a reason.")
    if len(text) > REASON_MAX_LENGTH:
        return Text(
            "The reason is {length} characters; keep it to {limit}.",
            length=len(text),
            limit=REASON_MAX_LENGTH,
        )
    return None


# Whom a token stands for: an operator, a person (a partner user or a customer user), or an
# account (its service token).
TokenSubjectKind = Literal[
    "operator", "partner_user", "customer_user", "partner_service", "customer_service"
]
PersonKind = Literal["partner_user", "customer_user"]


class AssociationType(StrEnum):
    REFERRAL = "referral"
    ADVANCE_PAYMENT = "advance_payment"
    RESALE = "resale"


class AssociationStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class Side(StrEnum):
    """The two parties of an association; the initiator of a request is one of them."""

    PARTNER = "partner"
    CUSTOMER = "customer"

    @property
    def other(self) -> Side:
        return Side.CUSTOMER if self is Side.PARTNER else Side.PARTNER


class RequestStatus(StrEnum):
    PENDING = "pending"
    AGREED = "agreed"
    AUTO_AGREED = "auto_agreed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    # A partner change: both partners consented and the customer moved (`completed`), or the
    # new partner declined (`declined`; the current partner's refusal is `rejected`).
    COMPLETED = "completed"
    DECLINED = "declined"

    @property
    def is_agreement(self) -> bool:
        """Every consent given, or taken from silence: the requested change happens."""
        return self in (RequestStatus.AGREED, RequestStatus.AUTO_AGREED, RequestStatus.COMPLETED)


class TimeoutOutcome(StrEnum):
    AUTO_AGREE = "auto_agree"
    EXPIRE = "expire"


class LimitScope(StrEnum):
    """What the request limit counts a side's requests across."""

    ASSOCIATION = "association"  # this association only
    CUSTOMER = "customer"  # every association of the customer (the customer side)
    PARTNER = "partner"  # every association of the partner (the partner side)


class DecisionAction(StrEnum):
    AGREE = "agree"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    CANCEL = "cancel"
    TIMEOUT = "timeout"
    # A partner change's new partner.
    ACCEPT = "accept"
    DECLINE = "decline"


class Party(StrEnum):
    """Who has a part in a request: its customer, the association's partner, and (a partner
    change) the partner the customer moves to."""

    CUSTOMER = "customer"
    PARTNER = "partner"
    NEW_PARTNER = "new_partner"


# A person of a partner (`partner_user`) or of a customer (`customer_user`); an account's service
# token (`partner`, `customer`: the account itself); an operator; `temporal_ui`: someone who
# signalled or cancelled the workflow in the Temporal UI or CLI, where nothing proves who they
# are (the name they typed is kept, marked unverified); assocflow itself (`system`).
ActorKind = Literal[
    "partner_user", "customer_user", "partner", "customer", "operator", "temporal_ui", "system"
]


class Actor(BaseModel):
    """Who did something. `ref` ("customer:<id>") is what records and requests store."""

    model_config = ConfigDict(frozen=True)

    kind: ActorKind
    id: str
    # The side of the association the actor acts for; operators and the system act for neither.
    side: Side | None = None
    # False when the name is only what someone typed (the Temporal UI's signals).
    verified: bool = True

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}" + ("" if self.verified else " (unverified)")

    @property
    def acts_for_platform(self) -> bool:
        """Operators, whether signed in (admin API, CLI) or in the Temporal UI."""
        return self.kind in ("operator", "temporal_ui")


SYSTEM = Actor(kind="system", id="assocflow")
# Who settles a request whose workflow closed without an outcome.
RECONCILER = Actor(kind="system", id="reconciler")
# Who cancelled when the workflow was cancelled from the Temporal UI or CLI (which do not tell the
# workflow who asked).
WORKFLOW_CANCELLATION = Actor(kind="temporal_ui", id="workflow-cancellation", verified=False)


class AccountStanding(BaseModel):
    """Facts about a customer account that the account check reads.

    A customer with no standing on file has no known blocker, so every default is the clean value.
    """

    frozen: bool = False
    arrears: Decimal = Field(default=Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    orders_awaiting_partner_payment: int = Field(default=0, ge=0)
    active_reserved_instances: int = Field(default=0, ge=0)
    unused_vouchers: int = Field(default=0, ge=0)
    independent_accounting_members: int = Field(default=0, ge=0)
    active_support_plan: bool = False
    special_contract: bool = False
    currency_set: bool = True


class CheckItem(BaseModel):
    code: str
    passed: bool
    message: str


class CheckResult(BaseModel):
    passed: bool
    items: list[CheckItem]
    # When `within_request_limit` fails: the first moment a new request is allowed.
    next_allowed_at: datetime | None = None

    def failed(self, code: str) -> bool:
        return any(item.code == code and not item.passed for item in self.items)


class PendingRequest(BaseModel):
    """The request pending on an association, as the check names it."""

    id: UUID
    kind: RequestKind


class CheckFacts(BaseModel):
    """What the account check reads: gathered by the store, judged by domain/checks.py."""

    association_active: bool
    # The association's type now (what a type change would change).
    association_type: AssociationType
    pending: PendingRequest | None = None
    # Submission times of the accepted requests (any outcome) the request limit counts: of this
    # kind, by this side within the policy's scope (disassociations), or on this association
    # (type changes).
    accepted_requests: list[datetime]
    partner_frozen: bool
    parent_partner_frozen: bool
    standing: AccountStanding
    # A partner change: the partner the customer would move to.
    new_partner: NewPartnerFacts | None = None


class NewPartnerFacts(BaseModel):
    """What a partner change's check reads of the partner the customer would move to."""

    exists: bool
    frozen: bool = False
    is_current: bool = False


class Policy(BaseModel):
    """The lifecycle rules, taken from settings when a request starts and fixed for its life."""

    response_window: timedelta
    reminder_before: timedelta
    on_timeout_customer: TimeoutOutcome
    on_timeout_partner: TimeoutOutcome
    request_limit: int
    request_window_months: int
    # What each side's requests count across (requests started before these existed: the
    # defaults, which only matter when a request is checked).
    customer_limit_scope: LimitScope = LimitScope.CUSTOMER
    partner_limit_scope: LimitScope = LimitScope.ASSOCIATION
    # Type changes per association per `request_window_months`, whoever asks.
    type_change_limit: int = 1

    def respond_by(self, accepted_at: datetime) -> datetime:
        """The counterpart's deadline for a request accepted at `accepted_at`."""
        return accepted_at + self.response_window

    def reminder_at(self, accepted_at: datetime) -> datetime | None:
        """When the counterpart is reminded, or None: no reminder when the lead time is zero, nor
        when it would come at or before acceptance (a window shorter than the lead time), since
        it would only repeat the request's own notification."""
        if self.reminder_before <= timedelta(0):
            return None
        at = self.respond_by(accepted_at) - self.reminder_before
        return at if at > accepted_at else None

    def limit_scope(self, initiator: Side) -> LimitScope:
        return self.customer_limit_scope if initiator is Side.CUSTOMER else self.partner_limit_scope


class Association(BaseModel):
    id: UUID
    partner_id: UUID
    customer_id: UUID
    association_type: AssociationType
    status: AssociationStatus
    associated_at: datetime
    ended_at: datetime | None = None


class ConsentGiven(BaseModel):
    """One party's answer to a request that awaits more than one (a partner change)."""

    decision: DecisionAction
    at: datetime
    by: str
    reason: str | None = None
    # The new partner's acceptance: the type of the new association.
    association_type: AssociationType | None = None


class Request(BaseModel):
    """A request of any kind, as stored and as the use cases speak of it: what every kind reads
    (the SPEC's field names), its kind, and the fields of the kinds that have them (a type
    change's `from_type` and `new_type`). The HTTP responses (api/schemas.py) and the webhook
    payloads (domain/events.py) are each kind's own models, copied from it by field name."""

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
    kind: RequestKind
    from_type: AssociationType | None = None
    new_type: AssociationType | None = None
    # A partner change: the partner the customer moves to, each partner's answer, and the
    # association that began.
    new_partner_id: UUID | None = None
    current_partner_decision: ConsentGiven | None = None
    new_partner_decision: ConsentGiven | None = None
    new_association_id: UUID | None = None
    completed_at: datetime | None = None

    def as_read_by(self, party: Party | None) -> Self:
        """What `party` may read of the request (None: an operator, who reads everything). The
        new partner's side never reads the current partner's reason: its answer's, nor the
        decision's when that answer settled the request."""
        answer = self.current_partner_decision
        if party is not Party.NEW_PARTNER or answer is None:
            return self
        hidden: dict[str, object] = {
            "current_partner_decision": answer.model_copy(update={"reason": None})
        }
        if self.decided_by == answer.by:
            hidden["decision_reason"] = None
        return self.model_copy(update=hidden)


class Decision(BaseModel):
    """A message to the workflow that settles a pending request, or gives one of its consents."""

    action: DecisionAction
    actor: Actor
    reason: str | None = None
    # The party the actor decides for, where the side does not tell (a partner change's two
    # partners: the use case says which one the caller is).
    party: Party | None = None
    # A partner change's new partner, accepting: the type of the new association.
    association_type: AssociationType | None = None
