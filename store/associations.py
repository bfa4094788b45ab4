"""Associations: operator changes, scoped reads, and the facts the account check needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain import kinds
from domain.checks import evaluate
from domain.types import (
    AccountStanding,
    Association,
    AssociationType,
    CheckFacts,
    CheckResult,
    LimitScope,
    NewPartnerFacts,
    PendingRequest,
    Policy,
    RequestKind,
    Side,
)
from store import records
from store.db import Connection, fetch_one, fetch_value
from store.pagination import newest_first
from store.rows import AssociationFacts, NamedAssociation, RequestsSeen
from store.scope import Scope

COLUMNS = "id, partner_id, customer_id, association_type, status, associated_at, ended_at"


class CustomerAlreadyAssociated(Exception):
    pass


class TypeChangePending(Exception):
    """A type change request is pending on the association: its type is the parties' to agree
    on until it is settled."""

    def __init__(self, request_id: UUID):
        super().__init__(str(request_id))
        self.request_id = request_id


async def create(
    conn: Connection, partner_id: UUID, customer_id: UUID, association_type: str, actor: str
) -> Association:
    """A new active association, with its record, in one transaction."""
    async with conn.transaction():
        row = await fetch_one(
            conn,
            Association,
            "INSERT INTO associations (partner_id, customer_id, association_type)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
            f" RETURNING {COLUMNS}",
            (partner_id, customer_id, association_type),
        )
        if row is None:
            raise CustomerAlreadyAssociated(str(customer_id))
        await records.add_record(
            conn,
            effect_key=f"association:{row.id}:associated",
            kind="association",
            action="associated",
            association=row,
            actor=actor,
            occurred_at=row.associated_at,
            status="active",
            after={"association_type": row.association_type},
        )
    return row


async def begin(
    conn: Connection,
    partner_id: UUID,
    customer_id: UUID,
    association_type: AssociationType,
    *,
    actor: str,
    at: datetime,
    effect_key: str,
    request_id: UUID,
    reason: str,
) -> Association:
    """A new active association that a request begins (a partner change), with its record, in
    the caller's transaction; on a retry, the one it began already."""
    began = await fetch_one(
        conn,
        Association,
        f"SELECT {COLUMNS} FROM associations WHERE id ="
        " (SELECT new_association_id FROM requests WHERE id = %s)",
        (request_id,),
    )
    if began is not None:
        return began
    row = await fetch_one(
        conn,
        Association,
        "INSERT INTO associations (partner_id, customer_id, association_type, associated_at)"
        f" VALUES (%s, %s, %s, %s) RETURNING {COLUMNS}",
        (partner_id, customer_id, association_type.value, at),
    )
    assert row is not None  # an INSERT ... RETURNING returns the row (or raises on a conflict)
    await records.add_record(
        conn,
        effect_key=effect_key,
        kind="association",
        action="associated",
        association=row,
        actor=actor,
        occurred_at=at,
        request_id=request_id,
        status="active",
        reason=reason,
        after={"association_type": row.association_type},
    )
    return row


async def change_type(
    conn: Connection,
    association_id: UUID,
    association_type: str,
    actor: str,
    reason: str | None,
) -> Association | None:
    """An operator's change of the association type, recorded before/after; a no-op change
    records nothing. Refused (TypeChangePending) while a type change request is pending."""
    async with conn.transaction():
        current = await get(conn, association_id, lock=True)
        if current is None:
            return None
        pending = await fetch_value(
            conn,
            UUID,
            "SELECT id FROM requests WHERE association_id = %s AND status = 'pending'"
            " AND kind = 'type_change'",
            (association_id,),
        )
        if pending is not None:
            raise TypeChangePending(pending)
        now = await fetch_value(conn, datetime, "SELECT now() AS now")
        assert now is not None
        changed = await set_type(
            conn,
            current,
            AssociationType(association_type),
            actor=actor,
            reason=reason,
            occurred_at=now,
            effect_key=f"association:{association_id}:type:{now.isoformat()}",
        )
    return changed or current


async def set_type(
    conn: Connection,
    current: Association,
    new_type: AssociationType,
    *,
    actor: str,
    reason: str | None,
    occurred_at: datetime,
    effect_key: str,
    request_id: UUID | None = None,
) -> Association | None:
    """Change the type of `current` (locked by the caller) to `new_type` and record it, within the
    caller's transaction; None when it has that type already (nothing is recorded)."""
    if current.association_type == new_type:
        return None
    row = await fetch_one(
        conn,
        Association,
        f"UPDATE associations SET association_type = %s WHERE id = %s RETURNING {COLUMNS}",
        (new_type.value, current.id),
    )
    assert row is not None  # the row is locked: it is still there
    await records.add_record(
        conn,
        effect_key=effect_key,
        kind="type_change",
        action="type_changed",
        association=row,
        actor=actor,
        occurred_at=occurred_at,
        request_id=request_id,
        status=row.status,
        reason=reason,
        before={"association_type": current.association_type},
        after={"association_type": new_type.value},
    )
    return row


async def get(
    conn: Connection, association_id: UUID, *, scope: Scope | None = None, lock: bool = False
) -> Association | None:
    params: dict[str, Any] = {"id": association_id}
    where = ["id = %(id)s"]
    if scope is not None:
        where.append(scope.clause(params))
    return await fetch_one(
        conn,
        Association,
        f"SELECT {COLUMNS} FROM associations WHERE {' AND '.join(where)}"
        f"{' FOR UPDATE' if lock else ''}",
        params,
    )


async def list_scoped(
    conn: Connection,
    scope: Scope,
    *,
    association_type: str | None,
    status: str | None,
    customer_id: UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Association], str | None]:
    return await newest_first(
        conn,
        Association,
        table="associations",
        columns=COLUMNS,
        time_column="associated_at",
        scope=scope,
        equals={"association_type": association_type, "status": status, "customer_id": customer_id},
        limit=limit,
        cursor=cursor,
    )


# Which of a side's requests the request limit counts, per scope (domain/types.py LimitScope).
_COUNTED_BY_SCOPE = {
    LimitScope.ASSOCIATION: "association_id = %(association_id)s",
    LimitScope.CUSTOMER: "customer_id = %(customer_id)s",
    LimitScope.PARTNER: "partner_id = %(partner_id)s",
}


async def check_facts(
    conn: Connection,
    association_id: UUID,
    kind: RequestKind,
    initiator: Side,
    standing: AccountStanding,
    *,
    policy: Policy,
    new_partner_id: UUID | None = None,
    lock: bool = False,
) -> tuple[AssociationFacts, CheckFacts] | None:
    """The association (with its partner's and customer's names) and the facts the account check
    reads; None if there is no association. The pending request is one of any kind; the request
    limit's submissions are those of `kind` that its rule counts (domain/kinds.py: the initiator's
    side within the policy's scope, or the association's); which of them fall in the window is
    the domain's rule (domain/limits.py).

    With `lock`, the association row stays locked until the transaction ends, so that the check
    and the insert of a new request cannot interleave with another submit.
    """
    row = await fetch_one(
        conn,
        AssociationFacts,
        "SELECT a.id, a.partner_id, a.customer_id, a.association_type, a.status,"
        " a.associated_at, a.ended_at, p.frozen AS partner_frozen,"
        " coalesce(parent.frozen, false) AS parent_partner_frozen,"
        " p.name AS partner_name, c.name AS customer_name"
        " FROM associations a JOIN partners p ON p.id = a.partner_id"
        " JOIN customers c ON c.id = a.customer_id"
        " LEFT JOIN partners parent ON parent.id = p.parent_partner_id"
        f" WHERE a.id = %s{' FOR UPDATE OF a' if lock else ''}",
        (association_id,),
    )
    if row is None:
        return None
    # A statement of its own, after the lock, so that a request accepted by the submit this one
    # waited for is seen. One statement, because under READ COMMITTED each statement has its own
    # snapshot: read apart, a request accepted between the two reads would be missed as pending
    # yet counted against the limit, and the refusal would name the limit instead of the pending
    # request the SPEC puts first.
    rules = kinds.of(kind)
    counted = _COUNTED_BY_SCOPE[rules.limit_scope(policy, initiator)]
    if rules.limit_per_side:
        counted += " AND initiator = %(initiator)s"
    seen = await fetch_one(
        conn,
        RequestsSeen,
        "SELECT pending.id AS pending_id, pending.kind AS pending_kind,"
        " ARRAY(SELECT submitted_at FROM requests"
        f" WHERE {counted} AND kind = ANY(%(kinds)s)) AS submitted"
        " FROM (SELECT 1) one LEFT JOIN requests pending"
        " ON pending.association_id = %(association_id)s AND pending.status = 'pending'",
        {
            "association_id": row.id,
            "customer_id": row.customer_id,
            "partner_id": row.partner_id,
            "initiator": initiator.value,
            "kinds": sorted(k.value for k in rules.counted_kinds),
        },
    )
    assert seen is not None
    pending = (
        PendingRequest(id=seen.pending_id, kind=RequestKind(seen.pending_kind))
        if seen.pending_id is not None and seen.pending_kind is not None
        else None
    )
    facts = CheckFacts(
        association_active=row.status == "active",
        association_type=row.association_type,
        pending=pending,
        accepted_requests=seen.submitted,
        partner_frozen=row.partner_frozen,
        parent_partner_frozen=row.parent_partner_frozen,
        standing=standing,
        new_partner=(
            await _new_partner_facts(conn, new_partner_id, row.partner_id)
            if kind is RequestKind.PARTNER_CHANGE
            else None
        ),
    )
    return row, facts


async def _new_partner_facts(
    conn: Connection, new_partner_id: UUID | None, current_partner_id: UUID
) -> NewPartnerFacts:
    frozen = (
        await fetch_value(
            conn, bool, "SELECT frozen FROM partners WHERE id = %s", (new_partner_id,)
        )
        if new_partner_id is not None
        else None
    )
    if frozen is None:
        return NewPartnerFacts(exists=False)
    return NewPartnerFacts(
        exists=True, frozen=frozen, is_current=new_partner_id == current_partner_id
    )


async def account_check(
    conn: Connection,
    association_id: UUID,
    kind: RequestKind,
    initiator: Side,
    standing: AccountStanding,
    *,
    policy: Policy,
    as_of: datetime,
    new_type: AssociationType | None = None,
    new_partner_id: UUID | None = None,
    lock: bool = False,
) -> tuple[AssociationFacts, CheckResult] | None:
    """The account check of a request of `kind` that `initiator` would start on the association
    at `as_of` (a type change: to `new_type`): the one assembly of facts and rules behind the
    check routes, a submit's check and the acceptance under the association's lock. None if
    there is no association."""
    found = await check_facts(
        conn,
        association_id,
        kind,
        initiator,
        standing,
        policy=policy,
        new_partner_id=new_partner_id,
        lock=lock,
    )
    if found is None:
        return None
    row, facts = found
    return row, evaluate(kind, initiator, facts, policy, as_of, new_type)


async def get_with_names(
    conn: Connection, association_id: UUID, *, scope: Scope | None = None, lock: bool = False
) -> NamedAssociation | None:
    """The association with its partner's and customer's names, in one query; with `lock`, the
    association stays locked until the transaction ends."""
    params: dict[str, Any] = {"id": association_id}
    where = ["a.id = %(id)s"]
    if scope is not None:
        where.append(scope.clause(params, alias="a"))
    return await fetch_one(
        conn,
        NamedAssociation,
        "SELECT a.id, a.partner_id, a.customer_id, a.association_type, a.status, a.associated_at,"
        " a.ended_at, p.name AS partner_name, c.name AS customer_name"
        " FROM associations a JOIN partners p ON p.id = a.partner_id"
        f" JOIN customers c ON c.id = a.customer_id WHERE {' AND '.join(where)}"
        f"{' FOR UPDATE OF a' if lock else ''}",
        params,
    )
