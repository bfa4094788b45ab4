"""The words people read, in one place: what each account-check item tells the user, why a
decision is refused, the notifications (message center and webhooks), and what operators read of a
request in the Temporal UI. A sentence is written once and reads the same wherever it appears;
moments are written one way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from domain import kinds
from domain.kinds import Consenter
from domain.types import (
    AssociationType,
    CheckFacts,
    DecisionAction,
    Party,
    Policy,
    RequestKind,
    RequestStatus,
    Side,
)


def stamp(moment: datetime) -> str:
    """A moment as people read it: 2026-11-27 14:05:09 UTC (to the second: a demo's deadlines
    are seconds apart)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(span: timedelta) -> str:
    """10 days, 48 hours, 30 seconds: the largest whole unit."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def outcome_name(status: RequestStatus) -> str:
    """auto-agreed, expired, ...: a status as a word."""
    return status.value.replace("_", "-")


# --- the account check ---------------------------------------------------------------------------

_ACROSS = {
    "association": " for this association",
    "customer": " across all of the customer's associations",
    "partner": " across all of the partner's associations",
}


# What an ended association means for a request of each kind.
_ENDED = {
    RequestKind.DISASSOCIATION: "there is nothing to disassociate.",
    RequestKind.TYPE_CHANGE: "its type can no longer change.",
    RequestKind.PARTNER_CHANGE: "the new partner can associate you directly.",
}


@dataclass(frozen=True)
class CheckWording:
    """What each account-check item of one request tells the user: that it passed, or what to do
    about it."""

    kind: RequestKind
    initiator: Side
    facts: CheckFacts
    policy: Policy
    allowed_from: datetime | None
    new_type: AssociationType | None = None

    def item(self, code: str, passed: bool) -> str:
        passed_text, failed_text = self._texts()[code]
        return passed_text if passed else failed_text()

    def _limit(self) -> str:
        rules = kinds.of(self.kind)
        scope = rules.limit_scope(self.policy, self.initiator).value
        whose = "" if rules.limit_per_side else ", whoever asks"
        counted = " or ".join(
            kinds.of(kind).noun.removesuffix(" request") for kind in sorted(rules.counted_kinds)
        )
        return (
            f"{rules.limit(self.policy)} {counted} request(s) per"
            f" {self.policy.request_window_months} calendar month(s){_ACROSS[scope]}{whose}"
        )

    def _texts(self) -> dict[str, tuple[str, Callable[[], str]]]:
        facts, s, limit = self.facts, self.facts.standing, self._limit()
        pending = facts.pending
        current = _type(facts.association_type)
        return {
            "association_active": (
                "The association is active.",
                lambda: "The association has already ended; " + _ENDED[self.kind],
            ),
            "no_pending_request": (
                "No other request is pending for this association.",
                lambda: (
                    f"A {kinds.of(pending.kind).noun if pending else 'request'}"
                    f" ({pending.id if pending else ''}) is already pending for this"
                    " association; wait for its outcome or withdraw it."
                ),
            ),
            "within_request_limit": (
                f"Within the limit of {limit}.",
                lambda: (
                    f"The limit of {limit} is reached; a new request is allowed from"
                    f" {self.allowed_from.isoformat() if self.allowed_from else ''}."
                ),
            ),
            "type_differs": (
                f"The association is {current}; the new type is {_type(self.new_type)}.",
                lambda: f"The association is {current} already; choose another type.",
            ),
            "partner_not_frozen": (
                "The partner account is in good standing.",
                lambda: (
                    "The partner account is frozen; contact the platform to unfreeze it."
                    if facts.partner_frozen
                    else "The partner's parent distributor is frozen; it must be unfrozen first."
                ),
            ),
            "customer_not_frozen": (
                "The customer account is not frozen.",
                lambda: "The customer account is frozen; it must be unfrozen first.",
            ),
            "no_orders_awaiting_partner_payment": (
                "No orders await payment by the partner.",
                lambda: (
                    f"{s.orders_awaiting_partner_payment} order(s) await payment by the partner;"
                    " pay or cancel them."
                ),
            ),
            "no_active_reserved_instances": (
                "No active reserved instances.",
                lambda: (
                    f"{s.active_reserved_instances} reserved instance(s) are still active; let"
                    " them expire or release them."
                ),
            ),
            "no_active_support_plan": (
                "No active support plan.",
                lambda: "A support plan is active; unsubscribe from it first.",
            ),
            "no_unused_vouchers": (
                "No unused vouchers.",
                lambda: f"{s.unused_vouchers} voucher(s) are unused; use or reclaim them.",
            ),
            "no_special_contract": (
                "No special contract applies.",
                lambda: (
                    "A special contract applies to this customer; end it with the platform first."
                ),
            ),
            "no_independent_accounting_members": (
                "No independent accounting members.",
                lambda: (
                    f"{s.independent_accounting_members} independent accounting member(s) remain;"
                    " remove them first."
                ),
            ),
            "no_arrears": (
                "No arrears.",
                lambda: f"The account is in arrears ({s.arrears}); settle them first.",
            ),
            "currency_set": (
                "The account currency is set.",
                lambda: "The account currency is not set; set it in the billing settings.",
            ),
            "new_partner_accepts_customers": (
                "The new partner takes customers.",
                lambda: self._new_partner_refuses(),
            ),
        }

    def _new_partner_refuses(self) -> str:
        new = self.facts.new_partner
        if new is None or not new.exists:
            return "No partner has this id; ask the new partner for its partner code."
        if new.is_current:
            return "This is your current partner; enter the id of the partner you move to."
        return "The new partner's account is frozen; it takes no customers for now."


# --- decisions -----------------------------------------------------------------------------------


def already(status: RequestStatus) -> str:
    return f"The request is already {status}."


def past_deadline(respond_by: datetime, on_timeout: RequestStatus | None) -> str:
    ended = f"The time to answer ended at {stamp(respond_by)}"
    if on_timeout is None:
        return f"{ended}."
    return f"{ended}: the request is {on_timeout} by its deadline."


def only_the_system_times_out() -> str:
    return "Only assocflow itself applies a timeout."


def only_operators_cancel() -> str:
    return "Only operators may cancel a request."


def only_the_initiator_withdraws() -> str:
    return "Only the initiator may withdraw the request."


def only_the_counterpart(counterpart: Side, action: DecisionAction) -> str:
    return f"Only the counterpart ({counterpart}) may {action} this request."


def reject_needs_a_reason() -> str:
    return "A rejection needs a reason."


def already_answered() -> str:
    return "You have answered this request already; it awaits the other partner's answer."


def no_such_answer(noun: str, action: DecisionAction) -> str:
    return f"A {noun} takes no {action.value}."


def only_the_party(action: DecisionAction) -> str:
    partner = (
        "new partner"
        if action in (DecisionAction.ACCEPT, DecisionAction.DECLINE)
        else ("current partner")
    )
    return f"Only the {partner} may {action.value} this request."


# --- notifications -------------------------------------------------------------------------------


def _between(partner: str, customer: str) -> str:
    return f"the association between {partner} and {customer}"


@dataclass(frozen=True)
class Ask:
    """What a request asks for: its kind and, for a type change, from which type to which."""

    kind: RequestKind
    from_type: AssociationType | None = None
    new_type: AssociationType | None = None
    # A partner change: the names of the partner the customer moves to, and of the customer.
    new_partner: str | None = None
    customer: str | None = None

    def to(self, partner: str, customer: str) -> str:
        """end the association between P and C; change the association between P and C from
        resale to referral; move C from P to N."""
        between = _between(partner, customer)
        if self.kind is RequestKind.TYPE_CHANGE:
            return f"change {between} from {_type(self.from_type)} to {_type(self.new_type)}"
        if self.kind is RequestKind.PARTNER_CHANGE:
            return f"move {customer} from {partner} to {self.new_partner}"
        return f"end {between}"

    @property
    def unchanged(self) -> str:
        """What stays as it was when the request does not go through."""
        if self.kind is RequestKind.TYPE_CHANGE:
            return f"the association stays {_type(self.from_type)}"
        if self.kind is RequestKind.PARTNER_CHANGE:
            return "the customer stays with its partner"
        return "the association continues"


def _type(association_type: AssociationType | None) -> str:
    """An association type as people read it: referral, advance payment, resale."""
    return association_type.value.replace("_", " ") if association_type else "?"


def requested(ask: Ask, initiator: Side, partner: str, customer: str, respond_by: datetime) -> str:
    who = f"Partner {partner}" if initiator is Side.PARTNER else f"Customer {customer}"
    return f"{who} asked to {ask.to(partner, customer)}; agree or reject by {stamp(respond_by)}."


def reminder(ask: Ask, partner: str, customer: str, respond_by: datetime) -> str:
    return (
        f"Reminder: the request to {ask.to(partner, customer)} awaits your answer until"
        f" {stamp(respond_by)}."
    )


def outcome(ask: Ask, status: RequestStatus, partner: str, customer: str) -> str:
    asked = f"The request to {ask.to(partner, customer)}"
    return {
        RequestStatus.AGREED: f"{asked} was agreed.",
        RequestStatus.AUTO_AGREED: f"{asked} was agreed automatically: "
        "no answer came before the deadline.",
        RequestStatus.REJECTED: f"{asked} was rejected.",
        RequestStatus.EXPIRED: f"{asked} expired without an answer.",
        RequestStatus.WITHDRAWN: f"{asked} was withdrawn.",
        RequestStatus.CANCELLED: f"{asked} was cancelled by the platform; {ask.unchanged}.",
        RequestStatus.COMPLETED: f"{asked} is complete: both partners consented.",
        RequestStatus.DECLINED: f"{asked} was declined by the new partner.",
    }[status]


def association_ended(partner: str, customer: str) -> str:
    return f"The association between {partner} and {customer} has ended."


def association_started(new_partner: str, customer: str) -> str:
    return f"The association between {new_partner} and {customer} has begun."


def answered(ask: Ask, who: Consenter, partner: str, customer: str) -> str:
    """One partner's consent to a partner change, while the other's is awaited."""
    if who is Consenter.NEW_PARTNER:
        return (
            f"{ask.new_partner} accepted {customer} as its customer; {partner}'s answer is awaited."
        )
    return f"{partner} agreed to {customer}'s move to {ask.new_partner}; its answer is awaited."


def association_type_changed(
    partner: str, customer: str, from_type: AssociationType, new_type: AssociationType
) -> str:
    return (
        f"The association between {partner} and {customer} is now {_type(new_type)}"
        f" (was {_type(from_type)})."
    )


def settled_by_request(kind: RequestKind, request_id: UUID, status: RequestStatus) -> str:
    """The reason on record when a request changed its association."""
    return f"{kinds.of(kind).title} request {request_id} was {status.value}."


# --- what operators read in the Temporal UI (Markdown) --------------------------------------------


@dataclass(frozen=True)
class Parties:
    """The two sides of a request, by name, which one asked, and what it asked for."""

    initiator: Side
    partner_name: str
    customer_name: str
    ask: Ask = Ask(RequestKind.DISASSOCIATION)

    def of(self, side: Side) -> str:
        return (
            f"partner {self.partner_name}"
            if side is Side.PARTNER
            else f"customer {self.customer_name}"
        )


def request_summary(parties: Parties, association_type: AssociationType) -> str:
    """One line for the workflow list: what kind of request, who asks, on which association
    ("Type change resale → referral · partner-initiated: Fabrikam ↔ Contoso")."""
    ask = parties.ask
    what = kinds.of(ask.kind).title
    if ask.kind is RequestKind.TYPE_CHANGE:
        what += f" {_type(ask.from_type)} → {_type(ask.new_type)}"
    elif ask.kind is RequestKind.PARTNER_CHANGE:
        what += f" {parties.partner_name} → {ask.new_partner}"
    else:
        what += f" ({association_type.value})"
    return (
        f"{what} · {parties.initiator.value}-initiated: {parties.customer_name} ↔ "
        f"{parties.partner_name}"
    )


@dataclass(frozen=True)
class RequestFacts:
    """What the workflow's static details show of a request."""

    request_id: UUID
    association_id: UUID
    partner_id: UUID
    customer_id: UUID
    association_type: AssociationType
    requested_by: str
    reason: str
    response_window: timedelta
    on_timeout: RequestStatus


def request_details(parties: Parties, facts: RequestFacts) -> str:
    return "\n".join(
        [
            f"### {kinds.of(parties.ask.kind).title} request `{facts.request_id}`",
            f"The **{parties.of(parties.initiator)}** {_asks(parties, facts.association_type)}"
            f" with the **{parties.of(parties.initiator.other)}**.",
            "",
            "| | |",
            "|---|---|",
            f"| Association | `{facts.association_id}` |",
            f"| Partner | {parties.partner_name} (`{facts.partner_id}`) |",
            f"| Customer | {parties.customer_name} (`{facts.customer_id}`) |",
            f"| Requested by | `{facts.requested_by}` |",
            f"| Reason | {facts.reason} |",
            f"| Response window | {duration(facts.response_window)} |",
            f"| On timeout | {outcome_name(facts.on_timeout)} |",
            "",
            "Operators settle it with the admin API or `assocflow requests agree|reject|cancel`"
            " (recorded under their name), or here with the `agree` or `reject` signal, input"
            ' `{"operator": "<you>", "reason": "<why>"}` (a reason is required to reject;'
            " recorded as unverified), or by cancelling the workflow (the request is cancelled).",
        ]
    )


def _asks(parties: Parties, association_type: AssociationType) -> str:
    ask = parties.ask
    if ask.kind is RequestKind.TYPE_CHANGE:
        return (
            f"asks to change the type of the association from **{_type(ask.from_type)}** to"
            f" **{_type(ask.new_type)}**"
        )
    if ask.kind is RequestKind.PARTNER_CHANGE:
        return f"asks to move to the partner **{ask.new_partner}** from its association"
    return f"asks to end the **{association_type.value}** association"


def checking(parties: Parties) -> str:
    return f"**Checking** the accounts of {parties.customer_name} and {parties.partner_name}."


def refused(failed: list[tuple[str, str]]) -> str:
    """`failed`: (code, message) of each failed item."""
    return "**Not accepted**: the account check failed.\n\n" + "\n".join(
        f"- `{code}`: {message}" for code, message in failed
    )


def pending(
    parties: Parties,
    respond_by: datetime,
    on_timeout: RequestStatus,
    reminder_at: datetime | None,
    reminded: bool,
    awaited: list[Party] | None = None,
) -> str:
    counterpart = " and the ".join(
        f"**{_party_name(parties, party)}** to {_answers_of(party)}"
        for party in (awaited or [Party(parties.initiator.other.value)])
    )
    lines = [
        f"**Pending** ({kinds.of(parties.ask.kind).title.lower()}): waiting for the"
        f" {counterpart}, "
        f"or for the {parties.of(parties.initiator)} to withdraw.",
        "",
        f"- Respond by: **{stamp(respond_by)}**; then it is **{outcome_name(on_timeout)}**.",
    ]
    if reminder_at is not None:
        state = "sent" if reminded else "due"
        lines.append(f"- Reminder: {state} at {stamp(reminder_at)}.")
    return "\n".join(lines)


def _party_name(parties: Parties, party: Party) -> str:
    if party is Party.NEW_PARTNER:
        return f"new partner {parties.ask.new_partner}"
    return parties.of(Side(party.value))


def _answers_of(party: Party) -> str:
    return "accept or decline" if party is Party.NEW_PARTNER else "agree or reject"


def settling(status: RequestStatus, actor_ref: str) -> str:
    return f"**Settling** as {status.value} (`{actor_ref}`)."


def settled(
    ask: Ask, status: RequestStatus, actor_ref: str, at: datetime, reason: str | None
) -> str:
    lines = [f"**{outcome_name(status).capitalize()}** at {stamp(at)} by `{actor_ref}`."]
    if reason:
        lines.append(f"\nReason: {reason}")
    if not status.is_agreement:
        lines.append(f"\n{ask.unchanged.capitalize()}; every party was notified.")
    elif ask.kind is RequestKind.TYPE_CHANGE:
        lines.append(f"\nThe association is now {_type(ask.new_type)}; both sides were notified.")
    elif ask.kind is RequestKind.PARTNER_CHANGE:
        lines.append(
            f"\nThe customer moved to {ask.new_partner}: the old association ended and the new"
            " one began; every party was notified."
        )
    else:
        lines.append("\nThe association has ended; both sides were notified.")
    return "\n".join(lines)


def ignored_signal(details: str, action: DecisionAction, who: str, why: str) -> str:
    """The current details with a note of a signal that could not apply."""
    return f"{details}\n\n> Ignored the `{action.value}` signal from `{who}`: {why}"
