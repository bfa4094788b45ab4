"""Who is calling: the partner side (a partner user, or the partner's service token), the customer
side (a customer user, or the customer's service token) or an operator, with what they may read
and do.

Authorization is deny-by-default: a use case names the permission it needs, an object outside the
caller's scope is not found, a visible object the caller may not act on is forbidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from application.errors import forbidden
from domain import messages
from domain.text import Text
from domain.types import Actor, ActorKind, Permission, Side
from store.scope import Scope

# Anyone with a part in the process of any kind of request may read requests.
READ_REQUESTS = (
    Permission.ASSOCIATIONS_READ,
    Permission.DISASSOCIATIONS_SUBMIT,
    Permission.DISASSOCIATIONS_PROCESS,
    Permission.TYPE_CHANGES_SUBMIT,
    Permission.TYPE_CHANGES_PROCESS,
    Permission.PARTNER_CHANGES_PROCESS,
)
# The message center tells of associations and their requests (who asked what, and why): it is
# for who may read the associations, not for everyone of the account.
READ_NOTIFICATIONS = Permission.ASSOCIATIONS_READ

# The side the caller acts for (`partner_user`: the partner side, person or service token).
PrincipalKind = Literal["operator", "partner_user", "customer"]


@dataclass(frozen=True)
class Account:
    """An account a caller acts for: a partner, or a customer."""

    kind: str  # "partner" | "customer"
    id: UUID


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    # The person's id, the account's id (a service token), or an operator's name.
    subject_id: str
    partner_id: UUID | None = None
    partner_type: str | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False  # a partner user holding the `admin` role
    customer_id: UUID | None = None
    # Partners whose data this caller may read: its own and, for a distributor or PSP, the
    # resellers under it.
    readable_partner_ids: tuple[UUID, ...] = ()
    verification_required: bool = False
    # A service token acts for its account with no person behind it: no second factor of its
    # own, so what verification guards it may do only where the account allows it.
    service: bool = False
    service_tokens_may_decide: bool = False

    @property
    def person_id(self) -> UUID | None:
        """The person behind the token (None for a service token or an operator)."""
        if self.kind == "operator" or self.service:
            return None
        return UUID(self.subject_id)

    @property
    def ref(self) -> str:
        """The caller as records, audit entries and idempotency keys name it."""
        return self.actor.ref

    @property
    def actor_kind(self) -> ActorKind:
        if self.kind == "operator":
            return "operator"
        if self.kind == "partner_user":
            return "partner" if self.service else "partner_user"
        return "customer" if self.service else "customer_user"

    @property
    def side(self) -> Side | None:
        return {"partner_user": Side.PARTNER, "customer": Side.CUSTOMER}.get(self.kind)

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.actor_kind, id=self.subject_id, side=self.side)

    @property
    def account(self) -> Account:
        """The account the caller acts for: its partner, or the customer itself."""
        if self.kind == "customer":
            assert self.customer_id is not None
            return Account("customer", self.customer_id)
        assert self.partner_id is not None
        return Account("partner", self.partner_id)

    def read_scope(self) -> Scope | None:
        """What the caller may read; None for operators, who see everything."""
        if self.kind == "operator":
            return None
        if self.kind == "customer":
            return Scope(customer_id=self.customer_id)
        return Scope(partner_ids=self.readable_partner_ids)

    def party_scope(self) -> Scope:
        """What a partner user or customer may read (the product API's callers)."""
        scope = self.read_scope()
        assert scope is not None, "operators read through the admin API"
        return scope

    def may_act_on(self, partner_id: UUID, customer_id: UUID) -> bool:
        """Submitting and deciding are for the association's own parties only (not a parent
        distributor)."""
        if self.kind == "customer":
            return self.customer_id == customer_id
        return self.kind == "partner_user" and self.partner_id == partner_id

    def holds(self, permission: Permission) -> bool:
        """Whether the caller holds `permission`: a partner user who was given it (customers act
        for their whole account and need none)."""
        return self.kind != "partner_user" or permission.value in self.permissions

    @property
    def reads_notifications(self) -> bool:
        """Whether the caller may read the account's message center (`READ_NOTIFICATIONS`)."""
        return self.holds(READ_NOTIFICATIONS)

    def require(self, *permissions: Permission) -> None:
        """403 unless the caller holds one of `permissions`."""
        if not any(self.holds(p) for p in permissions):
            needed = messages.either([f"`{p.value}`" for p in permissions])
            raise forbidden(Text("This action needs the {needed} permission.", needed=needed))

    @property
    def runs_account(self) -> bool:
        """Whether a person may run the account (its settings, its webhooks): a partner's admin,
        or a customer user. Never a service token, nor an operator (who has no account)."""
        if self.service:
            return False
        return self.kind == "customer" or (self.kind == "partner_user" and self.admin)

    def require_admin(self) -> None:
        """403 unless a person may run the account (`runs_account`). An account's service token
        never reads or changes its settings or webhooks."""
        if self.runs_account:
            return
        if self.service:
            raise forbidden(
                Text("A service token may not do this: one of the account's people does.")
            )
        raise forbidden(Text("This action needs the partner's `admin` role."))
