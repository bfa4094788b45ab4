"""What differs between the kinds of request, in one table; everything else is the one consent
process (check, admit, wait for decisions until a deadline, settle, notify) that every kind runs.

A kind names: the words for it, the permissions a partner's person needs to ask and to answer,
who may ask, the consents it awaits (who gives each, with which actions, and what silence counts
as on the deadline), what the request limit counts, and what agreement does to the association. Which account-check items apply is domain/checks.py's (by kind and initiator);
docs/ARCHITECTURE.md ("What differs by kind") lists where each difference lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.types import (
    DecisionAction,
    LimitScope,
    Party,
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
    # The association ends and the customer's new one with the new partner begins, at once.
    MOVE = "move"


class Consenter(StrEnum):
    """Whose consent a request awaits."""

    COUNTERPART = "counterpart"  # the side that did not ask
    PARTNER = "partner"  # the association's partner (a partner change's current partner)
    NEW_PARTNER = "new_partner"  # the partner a customer moves to


class Silence(StrEnum):
    """What a consent not given by the deadline counts as."""

    POLICY = "policy"  # the initiator's side of the policy: auto-agree or expire
    AGREES = "agrees"
    EXPIRES = "expires"


@dataclass(frozen=True)
class Consent:
    """One consent a request awaits: who gives it, the action that gives it and the one that
    refuses it (with the status a refusal ends the request in), and what silence counts as."""

    who: Consenter
    yes: DecisionAction
    no: DecisionAction
    refused: RequestStatus
    silence: Silence

    def party(self, initiator: Side) -> Party:
        if self.who is Consenter.COUNTERPART:
            return Party(initiator.other.value)
        return Party(self.who.value)


# The counterpart agrees or rejects: disassociations and type changes.
_COUNTERPART = Consent(
    Consenter.COUNTERPART,
    DecisionAction.AGREE,
    DecisionAction.REJECT,
    RequestStatus.REJECTED,
    Silence.POLICY,
)


@dataclass(frozen=True)
class Kind:
    kind: RequestKind
    # "disassociation request", "type change request": the words for one request.
    noun: str
    # "Disassociation", "Type change": a title, the start of a workflow's summary.
    title: str
    # What a partner's person needs to ask (None: partners do not ask for this kind) and to
    # answer.
    submit: Permission | None
    process: Permission
    change: Change
    # The consents the request awaits, together, until its deadline; the first refusal ends it.
    consents: tuple[Consent, ...]
    # The status of a request every consent of which was given (or taken from silence).
    agreed: RequestStatus
    # Who may ask.
    initiators: frozenset[Side]
    # The record kind of its requests and of its change (store/records.py).
    record_kind: str
    # What the request limit counts: the initiator's side only (within the policy's scope for
    # that side), or every request of the kind on the association; and the kinds it counts.
    limit_per_side: bool
    counted_kinds: frozenset[RequestKind]

    @property
    def event_prefix(self) -> str:
        """`type_change`: the notifications of its requests are `type_change.*`."""
        return self.kind.value

    def limit(self, policy: Policy) -> int:
        return policy.request_limit if self.limit_per_side else policy.type_change_limit

    def limit_scope(self, policy: Policy, initiator: Side) -> LimitScope:
        return policy.limit_scope(initiator) if self.limit_per_side else LimitScope.ASSOCIATION

    @property
    def parties(self) -> tuple[Party, ...]:
        """Everyone a request of this kind concerns: told of its outcome."""
        extra = tuple(Party(c.who.value) for c in self.consents if c.who is Consenter.NEW_PARTNER)
        return (Party.PARTNER, Party.CUSTOMER, *extra)

    def awaited(self, initiator: Side) -> tuple[Party, ...]:
        """The parties whose answer a request of this kind awaits."""
        return tuple(c.party(initiator) for c in self.consents)

    def consent_for(self, action: DecisionAction) -> Consent | None:
        """The consent `action` gives or refuses; None for an action that is no one's answer."""
        return next((c for c in self.consents if action in (c.yes, c.no)), None)

    def timeout_outcome(
        self, policy: Policy, initiator: Side, given: frozenset[Consenter] = frozenset()
    ) -> RequestStatus:
        """What the deadline brings when the consents in `given` were given: each missing one
        counts as its silence says; any that expires the request expires it."""
        silent = [self._silence(c, policy, initiator) for c in self.consents if c.who not in given]
        for outcome in (RequestStatus.EXPIRED, RequestStatus.AUTO_AGREED):
            if outcome in silent:
                return outcome
        return self.agreed

    def _silence(self, consent: Consent, policy: Policy, initiator: Side) -> RequestStatus:
        if consent.silence is Silence.AGREES:
            return self.agreed
        if consent.silence is Silence.EXPIRES:
            return RequestStatus.EXPIRED
        rule = (
            policy.on_timeout_customer if initiator is Side.CUSTOMER else policy.on_timeout_partner
        )
        return (
            RequestStatus.AUTO_AGREED
            if rule is TimeoutOutcome.AUTO_AGREE
            else RequestStatus.EXPIRED
        )


_ENDING = frozenset({RequestKind.DISASSOCIATION, RequestKind.PARTNER_CHANGE})

KINDS: dict[RequestKind, Kind] = {
    RequestKind.DISASSOCIATION: Kind(
        kind=RequestKind.DISASSOCIATION,
        noun="disassociation request",
        title="Disassociation",
        submit=Permission.DISASSOCIATIONS_SUBMIT,
        process=Permission.DISASSOCIATIONS_PROCESS,
        change=Change.END,
        consents=(_COUNTERPART,),
        agreed=RequestStatus.AGREED,
        initiators=frozenset(Side),
        record_kind="disassociation",
        limit_per_side=True,
        # A customer's limit counts its moves to another partner too (SPEC v3).
        counted_kinds=_ENDING,
    ),
    RequestKind.TYPE_CHANGE: Kind(
        kind=RequestKind.TYPE_CHANGE,
        noun="type change request",
        title="Type change",
        submit=Permission.TYPE_CHANGES_SUBMIT,
        process=Permission.TYPE_CHANGES_PROCESS,
        change=Change.CHANGE_TYPE,
        consents=(
            Consent(
                Consenter.COUNTERPART,
                DecisionAction.AGREE,
                DecisionAction.REJECT,
                RequestStatus.REJECTED,
                Silence.EXPIRES,
            ),
        ),
        agreed=RequestStatus.AGREED,
        initiators=frozenset(Side),
        record_kind="type_change",
        limit_per_side=False,
        counted_kinds=frozenset({RequestKind.TYPE_CHANGE}),
    ),
    RequestKind.PARTNER_CHANGE: Kind(
        kind=RequestKind.PARTNER_CHANGE,
        noun="partner change request",
        title="Partner change",
        submit=None,
        process=Permission.PARTNER_CHANGES_PROCESS,
        change=Change.MOVE,
        # Awaited together: the current partner's silence agrees (as for a customer's
        # disassociation), the new partner's expires the request.
        consents=(
            Consent(
                Consenter.PARTNER,
                DecisionAction.AGREE,
                DecisionAction.REJECT,
                RequestStatus.REJECTED,
                Silence.AGREES,
            ),
            Consent(
                Consenter.NEW_PARTNER,
                DecisionAction.ACCEPT,
                DecisionAction.DECLINE,
                RequestStatus.DECLINED,
                Silence.EXPIRES,
            ),
        ),
        agreed=RequestStatus.COMPLETED,
        initiators=frozenset({Side.CUSTOMER}),
        record_kind="partner_change",
        limit_per_side=True,
        counted_kinds=_ENDING,
    ),
}


def of(kind: RequestKind) -> Kind:
    return KINDS[kind]
