"""What a person sees at a glance in the console: their associations with names and pending
requests, one request with its timeline, what they may do with each, and their unread count.

The console shows an action only where the use case would allow it (the same rules, judged
here without effect); the use case still judges again when the action is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol
from uuid import UUID

from application.errors import not_found, paged
from application.principal import READ_REQUESTS, Principal
from application.requests import given_of, party_of
from application.services import Services
from domain import decisions, kinds
from domain.text import Text
from domain.types import (
    AssociationStatus,
    Decision,
    DecisionAction,
    Permission,
    Request,
    RequestKind,
    RequestStatus,
    Side,
)
from store import overview
from store.rows import AssociationOverview, NamedRequest


@dataclass(frozen=True)
class TimelineEvent:
    kind: Literal["submitted", "reminded", "decided"]
    at: datetime
    status: RequestStatus | None = None  # for `decided`: the outcome
    by: str | None = None  # for `decided`: who decided (an actor ref, or "assocflow")


@dataclass(frozen=True)
class RequestView:
    request: NamedRequest
    timeline: list[TimelineEvent]
    actions: frozenset[DecisionAction]


@paged
async def associations(
    svc: Services,
    who: Principal,
    *,
    search: str | None,
    status: AssociationStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AssociationOverview], str | None]:
    """The caller's associations (a distributor's include its resellers'), newest first, with
    the customer's and partner's names and any pending request."""
    who.require(Permission.ASSOCIATIONS_READ)
    async with svc.pool.connection() as conn:
        return await overview.associations(
            conn,
            who.party_scope(),
            search=search,
            status=status.value if status else None,
            limit=limit,
            cursor=cursor,
        )


async def association(svc: Services, who: Principal, association_id: UUID) -> AssociationOverview:
    async with svc.pool.connection() as conn:
        found = await overview.association(conn, association_id, who.party_scope())
    if found is None:
        raise not_found(Text("association"))
    who.require(*READ_REQUESTS)
    return found


def may_ask(who: Principal, association: AssociationOverview, kind: RequestKind) -> bool:
    """Whether the caller may ask for a request of `kind` on this association (to end it, to
    change its type): one of its own parties (not a parent distributor), with the kind's
    permission to submit, while it is active."""
    rules = kinds.of(kind)
    return (
        association.status is AssociationStatus.ACTIVE
        and who.may_act_on(association.partner_id, association.customer_id)
        and who.side in rules.initiators
        and (rules.submit is None or who.holds(rules.submit))
    )


async def request(svc: Services, who: Principal, request_id: UUID) -> RequestView:
    """One request with its parties' names, its timeline, and what the caller may do with it."""
    async with svc.pool.connection() as conn:
        found = await overview.request(conn, request_id, who.party_scope())
        reminded = await overview.reminders(conn, request_id) if found else []
    if found is None:
        raise not_found(Text("request"))
    who.require(*READ_REQUESTS)
    timeline = [TimelineEvent("submitted", found.submitted_at)]
    timeline += [TimelineEvent("reminded", at) for at in reminded]
    if found.decided_at is not None:
        timeline.append(
            TimelineEvent("decided", found.decided_at, status=found.status, by=found.decided_by)
        )
    return RequestView(found, timeline, actions_for(who, found))


def actions_for(
    who: Principal, request: Request, now: datetime | None = None
) -> frozenset[DecisionAction]:
    """The decisions the caller may take on `request` now (agree, reject, accept, decline,
    withdraw)."""
    party = party_of(who, request)
    if party is None:
        return frozenset()
    # Only whether each action may be taken: the deadline's outcome (stored with the request)
    # would only word a refusal.
    context = decisions.DecisionContext(
        initiator=request.initiator,
        status=request.status,
        respond_by=request.respond_by,
        kind=request.kind,
        given=given_of(request),
    )
    now = now or datetime.now(UTC)
    if not decisions.open_to_parties(context, now):  # most rows of a list: settled
        return frozenset()
    allowed = set()
    for action in decisions.PARTY_ACTIONS:
        permission = decisions.permission_for(request.kind, action)
        if permission is not None and not who.holds(permission):
            continue
        # A reason stands in for the one the person will give: only whether they may matters.
        decision = Decision(action=action, actor=who.actor, reason="-", party=party)
        try:
            decisions.authorize(decision, context, now)
        except decisions.DecisionRefused:
            continue
        allowed.add(action)
    return frozenset(allowed)


def awaits_caller(who: Principal, association: AssociationOverview) -> bool:
    """Whether a request pending on `association` waits for the caller's answer: the other side
    started it, and the caller may agree or reject for this side."""
    initiator, kind = association.pending_initiator, association.pending_kind
    return (
        initiator is not None
        and kind is not None
        and initiator is not who.side
        and who.may_act_on(association.partner_id, association.customer_id)
        and who.holds(kinds.of(kind).process)
        and not (who.side is Side.PARTNER and association.pending_partner_answered)
    )


class _Parties(Protocol):
    @property
    def partner_id(self) -> UUID: ...

    @property
    def customer_id(self) -> UUID: ...


async def names_of(svc: Services, rows: Sequence[_Parties]) -> dict[UUID, str]:
    """The partners' and customers' names of rows the caller was already shown, by id."""
    partners = {row.partner_id for row in rows}
    customers = {row.customer_id for row in rows}
    if not rows:
        return {}
    async with svc.pool.connection() as conn:
        return await overview.names(conn, partners, customers)
