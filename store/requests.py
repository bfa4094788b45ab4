"""Requests of every kind: the three lifecycle transactions and the scoped reads.

Each lifecycle transaction is idempotent so that its activity can be retried after a crash at any
line: acceptance is keyed by the request id, an outcome is a compare-and-set from `pending`, the
association ends by a compare-and-set from `active` (its type changes only if it is not the new
type yet), and every record and notification has an effect key.

What differs by kind (the records' kind, the events' names, what agreement changes) comes from
domain/kinds.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from domain import events, kinds, messages
from domain.decisions import timeout_outcome
from domain.kinds import Change, Consenter
from domain.types import (
    AccountStanding,
    Actor,
    Association,
    AssociationType,
    CheckResult,
    ConsentGiven,
    DecisionAction,
    Party,
    Policy,
    Request,
    RequestKind,
    RequestStatus,
    Side,
    workflow_id_for,
)
from store import associations, notifications, records
from store.db import Connection, fetch_all, fetch_one, fetch_value, fetch_values
from store.pagination import newest_first
from store.rows import NamedAssociation, NamedRequest, RequestForDecision, SettledRequest
from store.scope import Scope

COLUMNS = (
    "id, kind, association_id, partner_id, customer_id, initiator, status, reason, submitted_at,"
    " respond_by, decided_at, decided_by, decision_reason, from_type, new_type, new_partner_id,"
    " current_partner_decision, new_partner_decision, new_association_id, completed_at"
)
# A partner reads the requests of its associations and those that would bring it a customer.
PARTNER_COLUMNS = ("partner_id", "new_partner_id")
# Where each partner's answer to a partner change is kept.
ANSWER_COLUMN = {
    Consenter.PARTNER: "current_partner_decision",
    Consenter.NEW_PARTNER: "new_partner_decision",
}
# The event of each answer that leaves the request pending (a partner change's).
ANSWERED = {DecisionAction.AGREE: "agreed", DecisionAction.ACCEPT: "accepted"}


def _where(params: dict[str, Any], kind: RequestKind | None, scope: Scope | None) -> str:
    where = ["id = %(id)s"]
    if kind is not None:
        params["kind"] = kind.value
        where.append("kind = %(kind)s")
    if scope is not None:
        where.append(scope.clause(params, partner_columns=PARTNER_COLUMNS))
    return " AND ".join(where)


async def get(
    conn: Connection,
    request_id: UUID,
    *,
    kind: RequestKind | None = None,
    scope: Scope | None = None,
) -> Request | None:
    """The request; with `kind`, only if it is a request of that kind."""
    params: dict[str, Any] = {"id": request_id}
    where = _where(params, kind, scope)
    return await fetch_one(conn, Request, f"SELECT {COLUMNS} FROM requests WHERE {where}", params)


async def get_many(
    conn: Connection, request_ids: list[UUID], kind: RequestKind, *, scope: Scope | None = None
) -> list[Request]:
    """The requests of `kind` among `request_ids` (in the scope), in one query."""
    params: dict[str, Any] = {"ids": request_ids, "kind": kind.value}
    where = ["id = ANY(%(ids)s)", "kind = %(kind)s"]
    if scope is not None:
        where.append(scope.clause(params, partner_columns=PARTNER_COLUMNS))
    return await fetch_all(
        conn, Request, f"SELECT {COLUMNS} FROM requests WHERE {' AND '.join(where)}", params
    )


async def for_decision(
    conn: Connection,
    request_id: UUID,
    *,
    kind: RequestKind | None = None,
    scope: Scope | None = None,
) -> RequestForDecision | None:
    params: dict[str, Any] = {"id": request_id}
    where = _where(params, kind, scope)
    cur = conn.cursor(row_factory=class_row(RequestForDecision))
    await cur.execute(
        "SELECT id, kind, partner_id, customer_id, initiator, status, respond_by, on_timeout,"
        " new_partner_id, current_partner_decision IS NOT NULL AS partner_answered,"
        f" new_partner_decision IS NOT NULL AS new_partner_answered FROM requests WHERE {where}",
        params,
    )
    row = await cur.fetchone()
    if row is None:
        return None
    # The row factory hands the columns over as they come: text, made enums here.
    return RequestForDecision(
        id=row.id,
        kind=RequestKind(row.kind),
        partner_id=row.partner_id,
        customer_id=row.customer_id,
        initiator=Side(row.initiator),
        status=RequestStatus(row.status),
        respond_by=row.respond_by,
        on_timeout=RequestStatus(row.on_timeout),
        new_partner_id=row.new_partner_id,
        partner_answered=row.partner_answered,
        new_partner_answered=row.new_partner_answered,
    )


async def still_pending(conn: Connection, workflow_ids: list[str]) -> list[str]:
    """Which of `workflow_ids` run requests that are pending."""
    return await fetch_values(
        conn,
        str,
        "SELECT workflow_id FROM requests WHERE workflow_id = ANY(%s) AND status = 'pending'",
        (workflow_ids,),
    )


async def pending_overdue(conn: Connection, before: datetime, limit: int) -> list[str]:
    """The workflows of pending requests whose deadline passed before `before`, oldest deadline
    first."""
    return await fetch_values(
        conn,
        str,
        "SELECT workflow_id FROM requests WHERE status = 'pending' AND respond_by < %s"
        " ORDER BY respond_by LIMIT %s",
        (before, limit),
    )


async def of_workflow(conn: Connection, workflow_id: str) -> UUID | None:
    """The request the workflow `workflow_id` runs."""
    return await fetch_value(
        conn, UUID, "SELECT id FROM requests WHERE workflow_id = %s", (workflow_id,)
    )


async def list_scoped(
    conn: Connection,
    scope: Scope | None,
    kind: RequestKind,
    *,
    status: str | None,
    association_id: UUID | None,
    customer_id: UUID | None,
    initiator: str | None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Request], str | None]:
    return await newest_first(
        conn,
        Request,
        table="requests",
        columns=COLUMNS,
        time_column="submitted_at",
        scope=scope,
        equals={
            "kind": kind.value,
            "status": status,
            "association_id": association_id,
            "customer_id": customer_id,
            "initiator": initiator,
        },
        since=submitted_from,
        until=submitted_to,
        partner_columns=PARTNER_COLUMNS,
        limit=limit,
        cursor=cursor,
    )


def _recipient(request: Request, party: Party) -> tuple[str, UUID]:
    """(recipient kind, id) of a party of the request."""
    if party is Party.CUSTOMER:
        return "customer", request.customer_id
    if party is Party.NEW_PARTNER:
        assert request.new_partner_id is not None  # a partner change names its new partner
        return "partner", request.new_partner_id
    return "partner", request.partner_id


@dataclass(frozen=True)
class NewRequest:
    """What a request to accept consists of (the workflow's command, as the store needs it)."""

    request_id: UUID
    association_id: UUID
    initiator: Side
    requested_by: Actor
    reason: str
    policy: Policy
    kind: RequestKind = RequestKind.DISASSOCIATION
    # A type change: the type asked for.
    new_type: AssociationType | None = None
    # A partner change: the partner the customer moves to.
    new_partner_id: UUID | None = None


async def accept(
    conn: Connection, cmd: NewRequest, standing: AccountStanding, accepted_at: datetime
) -> tuple[CheckResult, Request | None]:
    """Check again under the association's lock and, if it passes, accept the request: the request
    row, its record and the counterpart's notification in one transaction. Returns the check and
    the request (None when the check failed).

    A request that exists already (a retry, or a workflow reset to its start) is returned as it
    stands, whatever has happened to it since.
    """
    async with conn.transaction():
        existing = await get(conn, cmd.request_id)
        if existing is not None:
            account_check = await fetch_value(
                conn,
                dict,
                "SELECT account_check FROM requests WHERE id = %s",
                (cmd.request_id,),
            )
            return CheckResult.model_validate(account_check), existing
        checked = await associations.account_check(
            conn,
            cmd.association_id,
            cmd.kind,
            cmd.initiator,
            standing,
            policy=cmd.policy,
            as_of=accepted_at,
            new_type=cmd.new_type,
            new_partner_id=cmd.new_partner_id,
            lock=True,
        )
        if checked is None:
            raise LookupError(f"association {cmd.association_id} does not exist")
        association, check = checked
        if not check.passed:
            return check, None
        changes_type = cmd.kind is RequestKind.TYPE_CHANGE
        # A partner change keeps the type it moves from too: the new partner's default.
        keeps_type = changes_type or cmd.kind is RequestKind.PARTNER_CHANGE
        request = await fetch_one(
            conn,
            Request,
            "INSERT INTO requests (id, kind, association_id, partner_id, customer_id,"
            " initiator, requested_by, status, reason, submitted_at, respond_by, on_timeout,"
            " workflow_id, account_check, from_type, new_type, new_partner_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {COLUMNS}",
            (
                cmd.request_id,
                cmd.kind.value,
                association.id,
                association.partner_id,
                association.customer_id,
                cmd.initiator.value,
                cmd.requested_by.ref,
                cmd.reason,
                accepted_at,
                cmd.policy.respond_by(accepted_at),
                timeout_outcome(cmd.kind, cmd.policy, cmd.initiator).value,
                workflow_id_for(cmd.kind, cmd.request_id),
                Jsonb(check.model_dump(mode="json")),
                association.association_type.value if keeps_type else None,
                cmd.new_type.value if changes_type and cmd.new_type else None,
                cmd.new_partner_id,
            ),
        )
        assert request is not None  # an INSERT ... RETURNING returns the row it inserted
        rules = kinds.of(cmd.kind)
        await records.add_record(
            conn,
            effect_key=f"request:{cmd.request_id}:requested",
            kind=rules.record_kind,
            action="requested",
            association=association,
            actor=cmd.requested_by.ref,
            occurred_at=accepted_at,
            request_id=cmd.request_id,
            status=RequestStatus.PENDING.value,
            reason=cmd.reason,
            **_types_of(request),
        )
        await _notify(
            conn,
            request,
            f"{rules.event_prefix}.requested",
            rules.awaited(cmd.initiator),
            messages.requested(
                await _ask(conn, request, association.customer_name),
                cmd.initiator,
                association.partner_name,
                association.customer_name,
                request.respond_by,
            ),
            accepted_at,
        )
    return check, request


async def settle(
    conn: Connection,
    request_id: UUID,
    outcome: RequestStatus,
    actor: Actor,
    reason: str | None,
    decided_at: datetime,
    decision_id: str | None = None,
    answers: dict[Consenter, ConsentGiven] | None = None,
) -> SettledRequest:
    """Apply an outcome to a pending request and, on agreement, make its change (end the
    association, change its type, move the customer): everything in one transaction, each step a
    compare-and-set so a retry changes nothing twice. `decision_id` is the id of the `decide`
    Update that carried the decision, kept with the outcome; `answers`, the partners' answers to
    a partner change, kept with it too.

    If the request is no longer pending it is returned as it stands, with the id of the decision
    that settled it.
    """
    assert outcome is not RequestStatus.PENDING
    async with conn.transaction():
        answered = answers or {}
        request = await fetch_one(
            conn,
            SettledRequest,
            "UPDATE requests SET status = %s, decided_at = %s, decided_by = %s,"
            " decision_reason = %s, decision_id = %s,"
            " current_partner_decision = coalesce(current_partner_decision, %s),"
            " new_partner_decision = coalesce(new_partner_decision, %s),"
            " completed_at = CASE WHEN %s = 'completed' THEN %s END"
            " WHERE id = %s AND status = 'pending'"
            f" RETURNING {COLUMNS}, decision_id",
            (
                outcome.value,
                decided_at,
                actor.ref,
                reason,
                decision_id,
                _answer(answered.get(Consenter.PARTNER)),
                _answer(answered.get(Consenter.NEW_PARTNER)),
                outcome.value,
                decided_at,
                request_id,
            ),
        )
        if request is None:
            current = await get_settled(conn, request_id)
            if current is None:
                raise LookupError(f"request {request_id} does not exist")
            return current
        association = await associations.get_with_names(conn, request.association_id, lock=True)
        assert association is not None  # a request's association exists (a foreign key)
        rules = kinds.of(request.kind)
        await records.add_record(
            conn,
            effect_key=f"request:{request_id}:{outcome.value}",
            kind=rules.record_kind,
            action=outcome.value,
            association=association,
            actor=actor.ref,
            occurred_at=decided_at,
            request_id=request_id,
            status=outcome.value,
            reason=reason,
            **_types_of(request),
        )
        partner, customer = association.partner_name, association.customer_name
        ask = await _ask(conn, request, customer)
        await _notify(
            conn,
            request,
            f"{rules.event_prefix}.{outcome.value}",
            rules.parties,
            messages.outcome(ask, outcome, partner, customer),
            decided_at,
        )
        if not outcome.is_agreement:
            return request
        if rules.change is Change.CHANGE_TYPE:
            await _change_type(conn, association, request, actor, decided_at, partner, customer)
            return request
        await _end_association(conn, association, request, actor, decided_at, partner, customer)
        if rules.change is Change.MOVE:
            request = await _begin_with_new_partner(conn, request, ask, actor, decided_at)
    return request


async def get_settled(conn: Connection, request_id: UUID) -> SettledRequest | None:
    """The request with the id of the decision that settled it (None while pending, or when no
    `decide` Update settled it)."""
    return await fetch_one(
        conn,
        SettledRequest,
        f"SELECT {COLUMNS}, decision_id FROM requests WHERE id = %s",
        (request_id,),
    )


async def _end_association(
    conn: Connection,
    association: NamedAssociation,
    request: Request,
    actor: Actor,
    ended_at: datetime,
    partner: str,
    customer: str,
) -> None:
    ended = await fetch_one(
        conn,
        Association,
        "UPDATE associations SET status = 'ended', ended_at = %s, ended_by_request_id = %s"
        f" WHERE id = %s AND status = 'active' RETURNING {associations.COLUMNS}",
        (ended_at, request.id, association.id),
    )
    if ended is None:  # already ended: by this request on an earlier try, or by an operator
        return
    await records.add_record(
        conn,
        effect_key=f"association:{association.id}:ended",
        kind="association",
        action="ended",
        association=ended,
        actor=actor.ref,
        occurred_at=ended_at,
        request_id=request.id,
        status="ended",
        reason=messages.settled_by_request(request.kind, request.id, request.status),
        before={"status": "active"},
        after={"status": "ended"},
    )
    await _notify(
        conn,
        request,
        "association.ended",
        [Party.PARTNER, Party.CUSTOMER],
        messages.association_ended(partner, customer),
        ended_at,
    )


async def _begin_with_new_partner(
    conn: Connection, request: SettledRequest, ask: messages.Ask, actor: Actor, at: datetime
) -> SettledRequest:
    """A partner change's second half, in the transaction that ended the old association: the
    customer's association with the new partner begins, of the type the new partner chose (the
    old one's by default). Never two active at once: the old one has just ended, and the unique
    index on active associations per customer would refuse a second."""
    assert request.new_partner_id is not None  # a partner change names its new partner
    chosen = request.new_partner_decision.association_type if request.new_partner_decision else None
    old = await associations.get(conn, request.association_id)
    assert old is not None  # a request's association exists (a foreign key)
    begun = await associations.begin(
        conn,
        request.new_partner_id,
        request.customer_id,
        chosen or old.association_type,
        actor=actor.ref,
        at=at,
        effect_key=f"request:{request.id}:association_started",
        request_id=request.id,
        reason=messages.settled_by_request(request.kind, request.id, request.status),
    )
    moved = await fetch_one(
        conn,
        SettledRequest,
        f"UPDATE requests SET new_association_id = %s WHERE id = %s RETURNING {COLUMNS}, decision_id",
        (begun.id, request.id),
    )
    assert moved is not None  # the request row is this transaction's
    await _notify(
        conn,
        moved,
        "association.started",
        [Party.NEW_PARTNER, Party.CUSTOMER],
        messages.association_started(ask.new_partner or "", ask.customer or ""),
        at,
    )
    return moved


async def record_consent(
    conn: Connection,
    request_id: UUID,
    who: Consenter,
    given: ConsentGiven,
    on_timeout: RequestStatus,
) -> Request:
    """One partner's consent to a partner change, while the other's is awaited: kept with the
    request (with what the deadline now brings), on record, and told to every party, in one
    transaction. A consent on record already, or a request no longer pending, is left as it
    stands (a retry, or a settlement that came first)."""
    column = ANSWER_COLUMN[who]
    async with conn.transaction():
        request = await fetch_one(
            conn,
            Request,
            f"UPDATE requests SET {column} = %s, on_timeout = %s"
            f" WHERE id = %s AND status = 'pending' AND {column} IS NULL RETURNING {COLUMNS}",
            (_answer(given), on_timeout.value, request_id),
        )
        if request is None:
            current = await get(conn, request_id)
            if current is None:
                raise LookupError(f"request {request_id} does not exist")
            return current
        association = await associations.get_with_names(conn, request.association_id)
        assert association is not None  # a request's association exists (a foreign key)
        rules = kinds.of(request.kind)
        event = ANSWERED[given.decision]
        await records.add_record(
            conn,
            effect_key=f"request:{request_id}:{event}",
            kind=rules.record_kind,
            action=event,
            association=association,
            actor=given.by,
            occurred_at=given.at,
            request_id=request_id,
            status=RequestStatus.PENDING.value,
            reason=given.reason,
        )
        ask = await _ask(conn, request, association.customer_name)
        await _notify(
            conn,
            request,
            f"{rules.event_prefix}.{event}",
            rules.parties,
            messages.answered(ask, who, association.partner_name, association.customer_name),
            given.at,
        )
    return request


def _answer(given: ConsentGiven | None) -> Jsonb | None:
    return None if given is None else Jsonb(given.model_dump(mode="json"))


async def _change_type(
    conn: Connection,
    association: NamedAssociation,
    request: Request,
    actor: Actor,
    changed_at: datetime,
    partner: str,
    customer: str,
) -> None:
    assert request.new_type is not None  # a type change names its new type (a CHECK)
    if association.status != "active":  # nothing to change on an association that has ended
        return
    changed = await associations.set_type(
        conn,
        association,
        request.new_type,
        actor=actor.ref,
        reason=messages.settled_by_request(request.kind, request.id, request.status),
        occurred_at=changed_at,
        effect_key=f"association:{association.id}:type:request:{request.id}",
        request_id=request.id,
    )
    if changed is None:  # it has the new type: changed on an earlier try, or by an operator
        return
    await _notify(
        conn,
        request,
        "association.type_changed",
        [Party.PARTNER, Party.CUSTOMER],
        messages.association_type_changed(
            partner, customer, association.association_type, request.new_type
        ),
        changed_at,
    )


async def _ask(conn: Connection, request: Request, customer: str) -> messages.Ask:
    """What the request asks, with the names its words need (the customer's, which every
    caller has read already with the association or the request)."""
    new_partner = None
    if request.new_partner_id is not None:
        new_partner = await fetch_value(
            conn, str, "SELECT name FROM partners WHERE id = %s", (request.new_partner_id,)
        )
    return messages.Ask(request.kind, request.from_type, request.new_type, new_partner, customer)


def _types_of(request: Request) -> dict[str, Any]:
    """A type change's record says from which type to which."""
    if request.kind is not RequestKind.TYPE_CHANGE:
        return {}
    return {
        "before": {"association_type": request.from_type},
        "after": {"association_type": request.new_type},
    }


async def remind(conn: Connection, request_id: UUID, at: datetime) -> bool:
    """Remind the counterpart of a request that is still pending; True if it was (or had been)."""
    async with conn.transaction():
        request = await fetch_one(
            conn,
            NamedRequest,
            f"SELECT {COLUMNS}, (SELECT name FROM partners WHERE id = r.partner_id) AS partner,"
            " (SELECT name FROM customers WHERE id = r.customer_id) AS customer"
            " FROM requests r WHERE id = %s",
            (request_id,),
        )
        if request is None or request.status is not RequestStatus.PENDING:
            return False
        partner, customer = request.partner, request.customer
        await _notify(
            conn,
            request,
            f"{kinds.of(request.kind).event_prefix}.reminder",
            _still_awaited(request),
            messages.reminder(
                await _ask(conn, request, customer), partner, customer, request.respond_by
            ),
            at,
        )
    return True


def _still_awaited(request: Request) -> list[Party]:
    """The parties whose answer the request still awaits."""
    answered = {
        Party.PARTNER: request.current_partner_decision is not None,
        Party.NEW_PARTNER: request.new_partner_decision is not None,
    }
    awaited = kinds.of(request.kind).awaited(request.initiator)
    return [party for party in awaited if not answered.get(party, False)]


async def _notify(
    conn: Connection,
    request: Request,
    event_type: str,
    parties: Sequence[Party],
    summary: str,
    at: datetime,
) -> None:
    """Tell `parties` of the request's event, each with what it may read of the request (one
    statement for them all)."""
    await notifications.notify(
        conn,
        recipients=[
            (*_recipient(request, party), f"request:{request.id}:{event_type}:{party.value}")
            for party in parties
        ],
        event_type=event_type,
        summary=summary,
        data=[events.request_event(request, party) for party in parties],
        created_at=at,
        request_id=request.id,
        association_id=request.association_id,
    )
