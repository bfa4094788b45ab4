"""What differs between the kinds of request, in one table; everything else is the one consent
process (check, admit, wait for decisions until a deadline, settle, notify) that every kind runs.

A kind names: the words for it, the permissions a partner's person needs to ask and to answer,
what the request limit counts, the outcome of a missed deadline, and what agreement does to the
association. Which account-check items apply is domain/checks.py's (by kind and initiator);
docs/ARCHITECTURE.md ("What differs by kind") lists where each difference lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.types import (
    LimitScope,
    Permission,
    Policy,
    RequestKind,
    RequestStatus,
    Side,
    TimeoutOutcome,
)


class Change(StrEnum):
    """What an agreed request does to its association."""

    END = "end"  # the association ends (`association.ended`)
    CHANGE_TYPE = "change_type"  # the association's type becomes the requested one


@dataclass(frozen=True)
class Kind:
    kind: RequestKind
    # "disassociation request", "type change request": the words for one request.
    noun: str
    # "Disassociation", "Type change": a title, the start of a workflow's summary.
    title: str
    submit: Permission
    process: Permission
    change: Change
    # The record kind of its requests and of its change (store/records.py).
    record_kind: str
    # Whether a missed deadline follows the initiator's side of the policy (auto-agree or
    # expire), or always expires the request.
    deadline_follows_policy: bool
    # What the request limit counts: the initiator's side only (within the policy's scope for
    # that side), or every request of the kind on the association.
    limit_per_side: bool

    @property
    def event_prefix(self) -> str:
        """`type_change`: the notifications of its requests are `type_change.*`."""
        return self.kind.value

    def limit(self, policy: Policy) -> int:
        return policy.request_limit if self.limit_per_side else policy.type_change_limit

    def limit_scope(self, policy: Policy, initiator: Side) -> LimitScope:
        return policy.limit_scope(initiator) if self.limit_per_side else LimitScope.ASSOCIATION

    def timeout_outcome(self, policy: Policy, initiator: Side) -> RequestStatus:
        if not self.deadline_follows_policy:
            return RequestStatus.EXPIRED
        rule = (
            policy.on_timeout_customer if initiator is Side.CUSTOMER else policy.on_timeout_partner
        )
        return (
            RequestStatus.AUTO_AGREED
            if rule is TimeoutOutcome.AUTO_AGREE
            else RequestStatus.EXPIRED
        )


KINDS: dict[RequestKind, Kind] = {
    RequestKind.DISASSOCIATION: Kind(
        kind=RequestKind.DISASSOCIATION,
        noun="disassociation request",
        title="Disassociation",
        submit=Permission.DISASSOCIATIONS_SUBMIT,
        process=Permission.DISASSOCIATIONS_PROCESS,
        change=Change.END,
        record_kind="disassociation",
        deadline_follows_policy=True,
        limit_per_side=True,
    ),
    RequestKind.TYPE_CHANGE: Kind(
        kind=RequestKind.TYPE_CHANGE,
        noun="type change request",
        title="Type change",
        submit=Permission.TYPE_CHANGES_SUBMIT,
        process=Permission.TYPE_CHANGES_PROCESS,
        change=Change.CHANGE_TYPE,
        record_kind="type_change",
        deadline_follows_policy=False,
        limit_per_side=False,
    ),
}


def of(kind: RequestKind) -> Kind:
    return KINDS[kind]
