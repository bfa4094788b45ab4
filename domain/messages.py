"""The words people read, in one place: what each account-check item tells the user, why a
decision is refused, the notifications (message center and webhooks), and what operators read of a
request in the Temporal UI. A sentence is written once and reads the same wherever it appears;
moments are written one way everywhere.

What a party reads is a `Text` (domain/text.py): its English, which code compares and stores as
it is, and its message id and parameters, which the API renders in the caller's language and the
message center in its recipient's (assocflow/i18n.py, the `assocflow` catalogue). A sentence
built of parts is one message id with named placeholders; a part that is itself words (an ask, a
type, a status) is a Text of its own, rendered in the same language. What operators read in the
Temporal UI stays English: workflows write it, and a workflow's output must not depend on any
reader. The reason recorded when a request changes an association (`settled_by_request`) stays
English too: it is stored once for every party and operator, not written to one reader.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from domain import kinds
from domain.kinds import Consenter
from domain.text import Text
from domain.types import (
    AssociationType,
    CheckFacts,
    CheckResult,
    DecisionAction,
    Party,
    Policy,
    RequestKind,
    RequestStatus,
    Side,
)


def stamp(moment: datetime) -> str:
    """A moment as people read it: 2026-11-27 14:05:09 UTC (to the second: a demo's deadlines
    are seconds apart). The same in every language: digits, and the zone named."""
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


# --- the words inside sentences --------------------------------------------------------------
# Each is what the code wrote before (a value, a noun of domain/kinds.py), as a Text of its own so
# that a sentence holding it renders it in the reader's language (tests/api/test_languages.py
# checks that each still reads as the value it stands for).

# A request's status, as `f"{status}"` writes it.
STATUS_WORDS: dict[RequestStatus, Text] = {
    RequestStatus.PENDING: Text("pending"),
    RequestStatus.AGREED: Text("agreed"),
    RequestStatus.AUTO_AGREED: Text("auto_agreed"),
    RequestStatus.REJECTED: Text("rejected"),
    RequestStatus.EXPIRED: Text("expired"),
    RequestStatus.WITHDRAWN: Text("withdrawn"),
    RequestStatus.CANCELLED: Text("cancelled"),
    RequestStatus.COMPLETED: Text("completed"),
    RequestStatus.DECLINED: Text("declined"),
}

# A decision's action, as its value.
ACTION_WORDS: dict[DecisionAction, Text] = {
    DecisionAction.AGREE: Text("agree"),
    DecisionAction.REJECT: Text("reject"),
    DecisionAction.WITHDRAW: Text("withdraw"),
    DecisionAction.CANCEL: Text("cancel"),
    DecisionAction.TIMEOUT: Text("timeout"),
    DecisionAction.ACCEPT: Text("accept"),
    DecisionAction.DECLINE: Text("decline"),
}

SIDE_WORDS: dict[Side, Text] = {Side.PARTNER: Text("partner"), Side.CUSTOMER: Text("customer")}

TYPE_WORDS: dict[AssociationType, Text] = {
    AssociationType.REFERRAL: Text("referral"),
    AssociationType.ADVANCE_PAYMENT: Text("advance payment"),
    AssociationType.RESALE: Text("resale"),
}

# Each kind's noun (`Kind.noun`), and what its requests are called in the request limit.
NOUNS: dict[RequestKind, Text] = {
    RequestKind.DISASSOCIATION: Text("disassociation request"),
    RequestKind.TYPE_CHANGE: Text("type change request"),
    RequestKind.PARTNER_CHANGE: Text("partner change request"),
}
_COUNTED_NAMES: dict[RequestKind, Text] = {
    RequestKind.DISASSOCIATION: Text("disassociation"),
    RequestKind.TYPE_CHANGE: Text("type change"),
    RequestKind.PARTNER_CHANGE: Text("partner change"),
}


def status_word(status: RequestStatus | None) -> str:
    """A status as a word for the reader ("None" where a request's status is not known, as
    `f"{status}"` wrote it)."""
    return STATUS_WORDS[status] if status is not None else f"{status}"


def noun(kind: RequestKind) -> Text:
    """A kind's noun, "disassociation request", in the reader's language."""
    return NOUNS[kind]


def _noun_named(name: str) -> str:
    """The noun `Kind.noun` gives, as a Text where it is one of ours."""
    return next((text for text in NOUNS.values() if text == name), name)


def either(names: list[str]) -> str:
    """a, a or b, a or b or c: in the reader's language where the names are Texts."""
    return functools.reduce(
        lambda first, second: Text("{first} or {second}", first=first, second=second), names
    )


# --- the account check ---------------------------------------------------------------------------

_ACROSS = {
    "association": Text("for this association"),
    "customer": Text("across all of the customer's associations"),
    "partner": Text("across all of the partner's associations"),
}


# What an ended association means for a request of each kind.
_ENDED = {
    RequestKind.DISASSOCIATION: Text("there is nothing to disassociate."),
    RequestKind.TYPE_CHANGE: Text("its type can no longer change."),
    RequestKind.PARTNER_CHANGE: Text("the new partner can associate you directly."),
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

    def item(self, code: str, passed: bool) -> Text:
        passed_text, failed_text = self._texts()[code]
        return passed_text if passed else failed_text()

    def _limit(self) -> Text:
        rules = kinds.of(self.kind)
        scope = rules.limit_scope(self.policy, self.initiator).value
        counted = either([_COUNTED_NAMES[kind] for kind in sorted(rules.counted_kinds)])
        return Text(
            "{limit} {counted} request(s) per {months} calendar month(s) {across}{whose}",
            limit=rules.limit(self.policy),
            counted=counted,
            months=self.policy.request_window_months,
            across=_ACROSS[scope],
            whose="" if rules.limit_per_side else Text(", whoever asks"),
        )

    def _texts(self) -> dict[str, tuple[Text, Callable[[], Text]]]:
        facts, s, limit = self.facts, self.facts.standing, self._limit()
        pending = facts.pending
        current = _type(facts.association_type)
        return {
            "association_active": (
                Text("The association is active."),
                lambda: Text(
                    "The association has already ended; {consequence}",
                    consequence=_ENDED[self.kind],
                ),
            ),
            "no_pending_request": (
                Text("No other request is pending for this association."),
                lambda: Text(
                    "A {noun} ({id}) is already pending for this association; wait for its"
                    " outcome or withdraw it.",
                    noun=noun(pending.kind) if pending else Text("request"),
                    id=pending.id if pending else "",
                ),
            ),
            "within_request_limit": (
                Text("Within the limit of {limit}.", limit=limit),
                lambda: Text(
                    "The limit of {limit} is reached; a new request is allowed from"
                    " {allowed_from}.",
                    limit=limit,
                    allowed_from=self.allowed_from.isoformat() if self.allowed_from else "",
                ),
            ),
            "type_differs": (
                Text(
                    "The association is {current}; the new type is {new_type}.",
                    current=current,
                    new_type=_type(self.new_type),
                ),
                lambda: Text(
                    "The association is {current} already; choose another type.", current=current
                ),
            ),
            "partner_not_frozen": (
                Text("The partner account is in good standing."),
                lambda: (
                    Text("The partner account is frozen; contact the platform to unfreeze it.")
                    if facts.partner_frozen
                    else Text(
                        "The partner's parent distributor is frozen; it must be unfrozen first."
                    )
                ),
            ),
            "customer_not_frozen": (
                Text("The customer account is not frozen."),
                lambda: Text("The customer account is frozen; it must be unfrozen first."),
            ),
            "no_orders_awaiting_partner_payment": (
                Text("No orders await payment by the partner."),
                lambda: Text(
                    "{count} order(s) await payment by the partner; pay or cancel them.",
                    count=s.orders_awaiting_partner_payment,
                ),
            ),
            "no_active_reserved_instances": (
                Text("No active reserved instances."),
                lambda: Text(
                    "{count} reserved instance(s) are still active; let them expire or release"
                    " them.",
                    count=s.active_reserved_instances,
                ),
            ),
            "no_active_support_plan": (
                Text("No active support plan."),
                lambda: Text("A support plan is active; unsubscribe from it first."),
            ),
            "no_unused_vouchers": (
                Text("No unused vouchers."),
                lambda: Text(
                    "{count} voucher(s) are unused; use or reclaim them.", count=s.unused_vouchers
                ),
            ),
            "no_special_contract": (
                Text("No special contract applies."),
                lambda: Text(
                    "A special contract applies to this customer; end it with the platform first."
                ),
            ),
            "no_independent_accounting_members": (
                Text("No independent accounting members."),
                lambda: Text(
                    "{count} independent accounting member(s) remain; remove them first.",
                    count=s.independent_accounting_members,
                ),
            ),
            "no_arrears": (
                Text("No arrears."),
                lambda: Text(
                    "The account is in arrears ({arrears}); settle them first.", arrears=s.arrears
                ),
            ),
            "currency_set": (
                Text("The account currency is set."),
                lambda: Text("The account currency is not set; set it in the billing settings."),
            ),
            "new_partner_accepts_customers": (
                Text("The new partner takes customers."),
                lambda: self._new_partner_refuses(),
            ),
        }

    def _new_partner_refuses(self) -> Text:
        new = self.facts.new_partner
        if new is None or not new.exists:
            return Text("No partner has this id; ask the new partner for its partner code.")
        if new.is_current:
            return Text("This is your current partner; enter the id of the partner you move to.")
        return Text("The new partner's account is frozen; it takes no customers for now.")


def worded(result: CheckResult, wording: CheckWording) -> CheckResult:
    """`result` with each item's words as their Text, to be rendered in the reader's language:
    a pydantic model keeps only the English of a Text it validates (`CheckItem.message` is a
    str), a copy with an update keeps the Text itself."""
    items = [
        item.model_copy(update={"message": wording.item(item.code, item.passed)})
        for item in result.items
    ]
    return result.model_copy(update={"items": items})


# --- decisions -----------------------------------------------------------------------------------


def already(status: RequestStatus) -> Text:
    return Text("The request is already {status}.", status=STATUS_WORDS[status])


def past_deadline(respond_by: datetime, on_timeout: RequestStatus | None) -> Text:
    if on_timeout is None:
        return Text("The time to answer ended at {moment}.", moment=stamp(respond_by))
    return Text(
        "The time to answer ended at {moment}: the request is {outcome} by its deadline.",
        moment=stamp(respond_by),
        outcome=STATUS_WORDS[on_timeout],
    )


def only_the_system_times_out() -> Text:
    return Text("Only assocflow itself applies a timeout.")


def only_operators_cancel() -> Text:
    return Text("Only operators may cancel a request.")


def only_the_initiator_withdraws() -> Text:
    return Text("Only the initiator may withdraw the request.")


def only_the_counterpart(counterpart: Side, action: DecisionAction) -> Text:
    return Text(
        "Only the counterpart ({counterpart}) may {action} this request.",
        counterpart=SIDE_WORDS[counterpart],
        action=ACTION_WORDS[action],
    )


def reject_needs_a_reason() -> Text:
    return Text("A rejection needs a reason.")


def already_answered() -> Text:
    return Text("You have answered this request already; it awaits the other partner's answer.")


def no_such_answer(noun: str, action: DecisionAction) -> Text:
    return Text("A {noun} takes no {action}.", noun=_noun_named(noun), action=ACTION_WORDS[action])


def only_the_party(action: DecisionAction) -> Text:
    partner = (
        Text("new partner")
        if action in (DecisionAction.ACCEPT, DecisionAction.DECLINE)
        else Text("current partner")
    )
    return Text(
        "Only the {partner} may {action} this request.",
        partner=partner,
        action=ACTION_WORDS[action],
    )


# --- notifications -------------------------------------------------------------------------------


def _between(partner: str, customer: str) -> Text:
    return Text(
        "the association between {partner} and {customer}", partner=partner, customer=customer
    )


@dataclass(frozen=True)
class Ask:
    """What a request asks for: its kind and, for a type change, from which type to which."""

    kind: RequestKind
    from_type: AssociationType | None = None
    new_type: AssociationType | None = None
    # A partner change: the names of the partner the customer moves to, and of the customer.
    new_partner: str | None = None
    customer: str | None = None

    def to(self, partner: str, customer: str) -> Text:
        """end the association between P and C; change the association between P and C from
        resale to referral; move C from P to N."""
        between = _between(partner, customer)
        if self.kind is RequestKind.TYPE_CHANGE:
            return Text(
                "change {between} from {from_type} to {new_type}",
                between=between,
                from_type=_type(self.from_type),
                new_type=_type(self.new_type),
            )
        if self.kind is RequestKind.PARTNER_CHANGE:
            return Text(
                "move {customer} from {partner} to {new_partner}",
                customer=customer,
                partner=partner,
                new_partner=self.new_partner,
            )
        return Text("end {between}", between=between)

    @property
    def unchanged(self) -> Text:
        """What stays as it was when the request does not go through."""
        if self.kind is RequestKind.TYPE_CHANGE:
            return Text("the association stays {type}", type=_type(self.from_type))
        if self.kind is RequestKind.PARTNER_CHANGE:
            return Text("the customer stays with its partner")
        return Text("the association continues")


def _type(association_type: AssociationType | None) -> str:
    """An association type as people read it: referral, advance payment, resale."""
    return TYPE_WORDS[association_type] if association_type else "?"


def requested(ask: Ask, initiator: Side, partner: str, customer: str, respond_by: datetime) -> Text:
    who = (
        Text("Partner {partner}", partner=partner)
        if initiator is Side.PARTNER
        else Text("Customer {customer}", customer=customer)
    )
    return Text(
        "{who} asked to {ask}; agree or reject by {respond_by}.",
        who=who,
        ask=ask.to(partner, customer),
        respond_by=stamp(respond_by),
    )


def reminder(ask: Ask, partner: str, customer: str, respond_by: datetime) -> Text:
    return Text(
        "Reminder: the request to {ask} awaits your answer until {respond_by}.",
        ask=ask.to(partner, customer),
        respond_by=stamp(respond_by),
    )


def outcome(ask: Ask, status: RequestStatus, partner: str, customer: str) -> Text:
    asked = ask.to(partner, customer)
    return {
        RequestStatus.AGREED: Text("The request to {ask} was agreed.", ask=asked),
        RequestStatus.AUTO_AGREED: Text(
            "The request to {ask} was agreed automatically: no answer came before the deadline.",
            ask=asked,
        ),
        RequestStatus.REJECTED: Text("The request to {ask} was rejected.", ask=asked),
        RequestStatus.EXPIRED: Text("The request to {ask} expired without an answer.", ask=asked),
        RequestStatus.WITHDRAWN: Text("The request to {ask} was withdrawn.", ask=asked),
        RequestStatus.CANCELLED: Text(
            "The request to {ask} was cancelled by the platform; {unchanged}.",
            ask=asked,
            unchanged=ask.unchanged,
        ),
        RequestStatus.COMPLETED: Text(
            "The request to {ask} is complete: both partners consented.", ask=asked
        ),
        RequestStatus.DECLINED: Text(
            "The request to {ask} was declined by the new partner.", ask=asked
        ),
    }[status]


def association_ended(partner: str, customer: str) -> Text:
    return Text(
        "The association between {partner} and {customer} has ended.",
        partner=partner,
        customer=customer,
    )


def association_started(new_partner: str, customer: str) -> Text:
    return Text(
        "The association between {partner} and {customer} has begun.",
        partner=new_partner,
        customer=customer,
    )


def answered(ask: Ask, who: Consenter, partner: str, customer: str) -> Text:
    """One partner's consent to a partner change, while the other's is awaited."""
    if who is Consenter.NEW_PARTNER:
        return Text(
            "{new_partner} accepted {customer} as its customer; {partner}'s answer is awaited.",
            new_partner=ask.new_partner,
            customer=customer,
            partner=partner,
        )
    return Text(
        "{partner} agreed to {customer}'s move to {new_partner}; its answer is awaited.",
        partner=partner,
        customer=customer,
        new_partner=ask.new_partner,
    )


def association_type_changed(
    partner: str, customer: str, from_type: AssociationType, new_type: AssociationType
) -> Text:
    return Text(
        "The association between {partner} and {customer} is now {new_type} (was {from_type}).",
        partner=partner,
        customer=customer,
        new_type=_type(new_type),
        from_type=_type(from_type),
    )


def settled_by_request(kind: RequestKind, request_id: UUID, status: RequestStatus) -> str:
    """The reason on record when a request changed its association (English: see above)."""
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
