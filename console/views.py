"""What a console page shows of a request: the application's view of it (its parties' names, its
timeline, what the signed-in person may do) and, for a partner change, the new partner's name and
the two consents as the person may see them: the new partner never sees the current partner's
reason (nor the decision reason when the current partner's answer settled the request).

Every page that shows a request reads it here, so that no template can show what the person may
not see."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from application import overview
from application.overview import RequestView, TimelineEvent
from application.principal import Principal
from application.requests import party_of, reader_of
from application.services import Services
from console.language import N_
from domain.types import (
    AssociationType,
    ConsentGiven,
    DecisionAction,
    Party,
    RequestKind,
    RequestStatus,
)
from store.rows import NamedRequest


@dataclass(frozen=True)
class ConsentStep:
    """A partner's answer to a partner change, as a step of its timeline."""

    at: datetime
    party: Party
    given: ConsentGiven
    kind: Literal["consented"] = "consented"


@dataclass(frozen=True)
class Consent:
    """One of a partner change's two consents: whose, and their answer as the person may see it
    (None while it is awaited, or when the request ended without it)."""

    party: Party  # PARTNER (the current partner) or NEW_PARTNER
    partner: str
    given: ConsentGiven | None
    # Without an answer: what that means now ("Awaiting answer", "counted as agreement").
    missing: str = ""

    @property
    def answer(self) -> str:
        if self.given is None:
            return self.missing
        return ANSWER_WORDS[self.given.decision]


ANSWER_WORDS = {
    DecisionAction.AGREE: N_("Agreed"),
    DecisionAction.REJECT: N_("Rejected"),
    DecisionAction.ACCEPT: N_("Accepted"),
    DecisionAction.DECLINE: N_("Declined"),
}


@dataclass(frozen=True)
class Shown:
    """A request as a console page shows it to the signed-in person."""

    request: NamedRequest
    timeline: list[TimelineEvent | ConsentStep]
    actions: frozenset[DecisionAction]
    # Which of the request's parties the person acts for (None: reads it only, a distributor).
    party: Party | None = None
    # A partner change: the partner the customer moves to, and both partners' answers.
    new_partner: str | None = None
    consents: tuple[Consent, ...] = field(default_factory=tuple)

    @property
    def is_partner_change(self) -> bool:
        return self.request.kind is RequestKind.PARTNER_CHANGE

    @property
    def decision_reason(self) -> str | None:
        """The reason the request was settled with, unless it is a consent's (shown with it)."""
        r = self.request
        if any(c.given is not None and c.given.by == r.decided_by for c in self.consents):
            return None
        return r.decision_reason


async def request_view(svc: Services, who: Principal, request_id: UUID) -> Shown:
    """The request, with its names, timeline and the person's actions (not found, or forbidden,
    as the application answers)."""
    view = await overview.request(svc, who, request_id)
    if view.request.kind is RequestKind.PARTNER_CHANGE:
        return await _partner_change(svc, who, view)
    return Shown(view.request, list(view.timeline), view.actions, party_of(who, view.request))


async def _partner_change(svc: Services, who: Principal, view: RequestView) -> Shown:
    seen = _as_seen_by(who, view.request)
    names = await names_of(svc, partners=_new(seen))
    new_partner = names.get(seen.new_partner_id) if seen.new_partner_id else None
    steps: list[TimelineEvent | ConsentStep] = list(view.timeline)
    for who_answered, given in _answers(seen):
        if given.decision in (DecisionAction.AGREE, DecisionAction.ACCEPT):
            steps.append(ConsentStep(given.at, who_answered, given))  # a refusal is the outcome
    steps.sort(key=lambda step: step.at)
    return Shown(
        request=seen,
        timeline=steps,
        actions=view.actions,
        party=party_of(who, seen),
        new_partner=new_partner or "",
        consents=(
            Consent(
                Party.PARTNER,
                seen.partner,
                seen.current_partner_decision,
                _missing(seen, Party.PARTNER),
            ),
            Consent(
                Party.NEW_PARTNER,
                new_partner or "",
                seen.new_partner_decision,
                _missing(seen, Party.NEW_PARTNER),
            ),
        ),
    )


def _as_seen_by(who: Principal, request: NamedRequest) -> NamedRequest:
    """The request as `who` may see it: from the new partner's side (application/requests.py
    `reader_of`), without the current partner's reason (its answer's, and the decision's when
    that answer settled the request)."""
    return request.as_read_by(reader_of(who, request))


def _answers(request: NamedRequest) -> list[tuple[Party, ConsentGiven]]:
    answers = [
        (Party.PARTNER, request.current_partner_decision),
        (Party.NEW_PARTNER, request.new_partner_decision),
    ]
    return [(party, given) for party, given in answers if given is not None]


def _missing(request: NamedRequest, party: Party) -> str:
    """What a partner's answer not given means now."""
    status = request.status
    if status is RequestStatus.PENDING:
        return N_("Awaiting answer")
    if status is RequestStatus.COMPLETED and party is Party.PARTNER:
        return N_("No answer in time: counted as agreement")
    if status is RequestStatus.EXPIRED and party is Party.NEW_PARTNER:
        return N_("No answer in time")
    return N_("No answer: the request ended first")


def _new(request: NamedRequest) -> set[UUID]:
    return {request.new_partner_id} if request.new_partner_id else set()


@dataclass(frozen=True)
class _Named:
    partner_id: UUID
    customer_id: UUID


async def names_of(
    svc: Services, *, partners: Collection[UUID] = (), customers: Collection[UUID] = ()
) -> dict[UUID, str]:
    """The names of partners and customers the person was shown already (a request's new
    partner, which the application's rows do not name), by id."""
    ids = {*partners, *customers}
    # Each id is looked for among partners and customers both: where it is not, nothing is found.
    return await overview.names_of(svc, [_Named(i, i) for i in ids]) if ids else {}


def current_type(shown: Shown) -> AssociationType | None:
    """The type of the association a partner change moves the customer from: what the new
    partner's acceptance keeps unless it chooses another."""
    return shown.request.from_type
