"""Disassociation requests: the three lifecycle transactions and the scoped reads.

Each lifecycle transaction is idempotent so that its activity can be retried after a crash at any
line: acceptance is keyed by the request id, an outcome is a compare-and-set from `pending`, the
association ends by a compare-and-set from `active`, and every record and notification has an
effect key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from domain import events, messages
from domain.decisions import timeout_outcome
from domain.types import (
    AccountStanding,
    Actor,
    Association,
    CheckResult,
    DisassociationRequest,
    Policy,
    RequestStatus,
    Side,
    workflow_id_for,
)
from store import associations, notifications, records
from store.db import Connection, fetch_one, fetch_value, fetch_values
from store.pagination import newest_first
from store.rows import NamedAssociation, NamedRequest, RequestForDecision, SettledRequest
from store.scope import Scope

COLUMNS = (
    "id, association_id, partner_id, customer_id, initiator, status, reason, submitted_at,"
    " respond_by, decided_at, decided_by, decision_reason"
)


async def get(
    conn: Connection, request_id: UUID, *, scope: Scope | None = None
) -> DisassociationRequest | None:
    params: dict[str, Any] = {"id": request_id}
    where = ["id = %(id)s"]
    if scope is not None:
        where.append(scope.clause(params))
    return await fetch_one(
        conn,
        DisassociationRequest,
        f"SELECT {COLUMNS} FROM disassociation_requests WHERE {' AND '.join(where)}",
        params,
    )


async def for_decision(
    conn: Connection, request_id: UUID, *, scope: Scope | None = None
) -> RequestForDecision | None:
    params: dict[str, Any] = {"id": request_id}
    where = ["id = %(id)s"]
    if scope is not None:
        where.append(scope.clause(params))
    cur = conn.cursor(row_factory=class_row(RequestForDecision))
    await cur.execute(
        "SELECT id, partner_id, customer_id, initiator, status, respond_by, on_timeout"
        f" FROM disassociation_requests WHERE {' AND '.join(where)}",
        params,
    )
    row = await cur.fetchone()
    if row is None:
        return None
    # The row factory hands the columns over as they come: text, made enums here.
    return RequestForDecision(
        id=row.id,
        partner_id=row.partner_id,
        customer_id=row.customer_id,
        initiator=Side(row.initiator),
        status=RequestStatus(row.status),
        respond_by=row.respond_by,
        on_timeout=RequestStatus(row.on_timeout),
    )


async def still_pending(conn: Connection, request_ids: list[UUID]) -> list[UUID]:
    """Which of `request_ids` are pending."""
    return await fetch_values(
        conn,
        UUID,
        "SELECT id FROM disassociation_requests WHERE id = ANY(%s) AND status = 'pending'",
        (request_ids,),
    )


async def pending_overdue(conn: Connection, before: datetime, limit: int) -> list[UUID]:
    """Pending requests whose deadline passed before `before`, oldest deadline first."""
    return await fetch_values(
        conn,
        UUID,
        "SELECT id FROM disassociation_requests WHERE status = 'pending' AND respond_by < %s"
        " ORDER BY respond_by LIMIT %s",
        (before, limit),
    )


async def list_scoped(
    conn: Connection,
    scope: Scope,
    *,
    status: str | None,
    association_id: UUID | None,
    customer_id: UUID | None,
    initiator: str | None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DisassociationRequest], str | None]:
    return await newest_first(
        conn,
        DisassociationRequest,
        table="disassociation_requests",
        columns=COLUMNS,
        time_column="submitted_at",
        scope=scope,
        equals={
            "status": status,
            "association_id": association_id,
            "customer_id": customer_id,
            "initiator": initiator,
        },
        since=submitted_from,
        until=submitted_to,
        limit=limit,
        cursor=cursor,
    )


def _recipient_id(request: DisassociationRequest, side: Side) -> UUID:
    return request.partner_id if side is Side.PARTNER else request.customer_id


@dataclass(frozen=True)
class NewRequest:
    """What a request to accept consists of (the workflow's command, as the store needs it)."""

    request_id: UUID
    association_id: UUID
    initiator: Side
    requested_by: Actor
    reason: str
    policy: Policy


async def accept(
    conn: Connection, cmd: NewRequest, standing: AccountStanding, accepted_at: datetime
) -> tuple[CheckResult, DisassociationRequest | None]:
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
                "SELECT account_check FROM disassociation_requests WHERE id = %s",
                (cmd.request_id,),
            )
            return CheckResult.model_validate(account_check), existing
        checked = await associations.account_check(
            conn,
            cmd.association_id,
            cmd.initiator,
            standing,
            policy=cmd.policy,
            as_of=accepted_at,
            lock=True,
        )
        if checked is None:
            raise LookupError(f"association {cmd.association_id} does not exist")
        association, check = checked
        if not check.passed:
            return check, None
        request = await fetch_one(
            conn,
            DisassociationRequest,
            "INSERT INTO disassociation_requests (id, association_id, partner_id, customer_id,"
            " initiator, requested_by, status, reason, submitted_at, respond_by, on_timeout,"
            " workflow_id, account_check)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s, %s)"
            f" RETURNING {COLUMNS}",
            (
                cmd.request_id,
                association.id,
                association.partner_id,
                association.customer_id,
                cmd.initiator.value,
                cmd.requested_by.ref,
                cmd.reason,
                accepted_at,
                cmd.policy.respond_by(accepted_at),
                timeout_outcome(cmd.policy, cmd.initiator).value,
                workflow_id_for(cmd.request_id),
                Jsonb(check.model_dump(mode="json")),
            ),
        )
        assert request is not None  # an INSERT ... RETURNING returns the row it inserted
        await records.add_record(
            conn,
            effect_key=f"request:{cmd.request_id}:requested",
            kind="disassociation",
            action="requested",
            association=association,
            actor=cmd.requested_by.ref,
            occurred_at=accepted_at,
            request_id=cmd.request_id,
            status=RequestStatus.PENDING.value,
            reason=cmd.reason,
        )
        await _notify(
            conn,
            request,
            "disassociation.requested",
            [cmd.initiator.other],
            messages.requested(
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
) -> SettledRequest:
    """Apply an outcome to a pending request and, on agreement, end the association: everything in
    one transaction, each step a compare-and-set so a retry changes nothing twice. `decision_id`
    is the id of the `decide` Update that carried the decision, kept with the outcome.

    If the request is no longer pending it is returned as it stands, with the id of the decision
    that settled it.
    """
    assert outcome is not RequestStatus.PENDING
    async with conn.transaction():
        request = await fetch_one(
            conn,
            SettledRequest,
            "UPDATE disassociation_requests SET status = %s, decided_at = %s, decided_by = %s,"
            " decision_reason = %s, decision_id = %s WHERE id = %s AND status = 'pending'"
            f" RETURNING {COLUMNS}, decision_id",
            (outcome.value, decided_at, actor.ref, reason, decision_id, request_id),
        )
        if request is None:
            current = await get_settled(conn, request_id)
            if current is None:
                raise LookupError(f"request {request_id} does not exist")
            return current
        association = await associations.get_with_names(conn, request.association_id, lock=True)
        assert association is not None  # a request's association exists (a foreign key)
        await records.add_record(
            conn,
            effect_key=f"request:{request_id}:{outcome.value}",
            kind="disassociation",
            action=outcome.value,
            association=association,
            actor=actor.ref,
            occurred_at=decided_at,
            request_id=request_id,
            status=outcome.value,
            reason=reason,
        )
        partner, customer = association.partner_name, association.customer_name
        await _notify(
            conn,
            request,
            f"disassociation.{outcome.value}",
            [Side.PARTNER, Side.CUSTOMER],
            messages.outcome(outcome, partner, customer),
            decided_at,
        )
        if outcome.ends_association:
            await _end_association(conn, association, request, actor, decided_at, partner, customer)
    return request


async def get_settled(conn: Connection, request_id: UUID) -> SettledRequest | None:
    """The request with the id of the decision that settled it (None while pending, or when no
    `decide` Update settled it)."""
    return await fetch_one(
        conn,
        SettledRequest,
        f"SELECT {COLUMNS}, decision_id FROM disassociation_requests WHERE id = %s",
        (request_id,),
    )


async def _end_association(
    conn: Connection,
    association: NamedAssociation,
    request: DisassociationRequest,
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
        reason=messages.ended_by_request(request.id, request.status),
        before={"status": "active"},
        after={"status": "ended"},
    )
    await _notify(
        conn,
        request,
        "association.ended",
        [Side.PARTNER, Side.CUSTOMER],
        messages.association_ended(partner, customer),
        ended_at,
    )


async def remind(conn: Connection, request_id: UUID, at: datetime) -> bool:
    """Remind the counterpart of a request that is still pending; True if it was (or had been)."""
    async with conn.transaction():
        request = await fetch_one(
            conn,
            NamedRequest,
            f"SELECT {COLUMNS}, (SELECT name FROM partners WHERE id = r.partner_id) AS partner,"
            " (SELECT name FROM customers WHERE id = r.customer_id) AS customer"
            " FROM disassociation_requests r WHERE id = %s",
            (request_id,),
        )
        if request is None or request.status is not RequestStatus.PENDING:
            return False
        counterpart = request.initiator.other
        partner, customer = request.partner, request.customer
        await _notify(
            conn,
            request,
            "disassociation.reminder",
            [counterpart],
            messages.reminder(partner, customer, request.respond_by),
            at,
        )
    return True


async def _notify(
    conn: Connection,
    request: DisassociationRequest,
    event_type: str,
    sides: list[Side],
    summary: str,
    at: datetime,
) -> None:
    await notifications.notify(
        conn,
        recipients=[
            (
                side.value,
                _recipient_id(request, side),
                f"request:{request.id}:{event_type}:{side.value}",
            )
            for side in sides
        ],
        event_type=event_type,
        summary=summary,
        data=events.request_event(request),
        created_at=at,
        request_id=request.id,
        association_id=request.association_id,
    )
