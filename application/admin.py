"""What operators set up: partners and their users, customers and their standing, associations,
tokens, and the audit log that records each change. The admin API and the CLI call these same
functions, so a change is checked and recorded the same way whichever way it is made.

Each takes the database pool (the CLI has no Temporal to offer, and none is needed here) and the
operator, whose `ref` names the actor on the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any, Literal
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from application.errors import Failure, forbidden, invalid, not_found, paged
from application.principal import Principal
from domain.problems import ProblemCode
from domain.text import Text
from domain.types import (
    AccountStanding,
    Association,
    AssociationType,
    PartnerType,
    TokenSubjectKind,
)
from store import accounts, associations, audit, mfa, sessions, tokens
from store.db import Connection
from store.rows import AuditEntry, Customer, Partner, PartnerUser, Token
from store.rows import CustomerStanding as CustomerStanding  # what put_standing answers
from store.rows import CustomerUser as CustomerUser  # what creating a customer user answers

# `customer` is what a customer's service token was called before people: still accepted.
SubjectKind = Literal[
    "operator", "partner_user", "customer_user", "partner_service", "customer_service", "customer"
]


def require_operator(who: Principal) -> None:
    """403 unless `who` is an operator: what every use case of /v1/admin checks first."""
    if who.kind != "operator":
        raise forbidden(Text("Only operators may use the /v1/admin API."))


# --- partners and their users ----------------------------------------------------------------


async def _check_parent(
    conn: Connection, partner_type: str, parent_id: UUID | None, self_id: UUID | None = None
) -> None:
    """A reseller may sit under a distributor or PSP; nothing else has a parent."""
    if parent_id is None:
        return
    if partner_type != "reseller":
        raise invalid("parent_partner_id", Text("Only a reseller can have a parent partner."))
    parent = await accounts.get_partner(conn, parent_id)
    if parent is None or parent_id == self_id:
        raise invalid("parent_partner_id", Text("The parent partner does not exist."))
    if parent.type not in ("distributor", "psp"):
        raise invalid("parent_partner_id", Text("The parent must be a distributor or a PSP."))


async def create_partner(
    pool: AsyncConnectionPool,
    who: Principal,
    *,
    name: str,
    partner_type: PartnerType,
    parent_partner_id: UUID | None = None,
    frozen: bool = False,
) -> Partner:
    require_operator(who)
    fields = {
        "name": name,
        "type": partner_type,
        "parent_partner_id": parent_partner_id,
        "frozen": frozen,
    }
    async with pool.connection() as conn:
        await _check_parent(conn, partner_type, parent_partner_id)
        async with conn.transaction():
            row = await accounts.create_partner(conn, fields)
            await _audit(conn, who, "partner.created", "partner", row.id, after=row.model_dump())
    return row


async def list_partners(pool: AsyncConnectionPool, who: Principal) -> list[Partner]:
    require_operator(who)
    async with pool.connection() as conn:
        return await accounts.list_partners(conn)


async def get_partner(pool: AsyncConnectionPool, who: Principal, partner_id: UUID) -> Partner:
    require_operator(who)
    async with pool.connection() as conn:
        row = await accounts.get_partner(conn, partner_id)
    if row is None:
        raise not_found(Text("partner"))
    return row


async def update_partner(
    pool: AsyncConnectionPool, who: Principal, partner_id: UUID, changes: dict[str, Any]
) -> Partner:
    """Change the fields in `changes` (name, type, parent_partner_id, frozen), under the
    partner's lock. What changed is on the audit log: freezing and unfreezing by name."""
    require_operator(who)
    async with pool.connection() as conn, conn.transaction():
        current = await accounts.get_partner(conn, partner_id, lock=True)
        if current is None:
            raise not_found(Text("partner"))
        stored = current.model_dump()
        merged = {**stored, **changes}
        if "type" in changes or "parent_partner_id" in changes:
            await _check_parent(conn, merged["type"], merged["parent_partner_id"], partner_id)
            if merged["type"] == "reseller" and await accounts.child_partner_ids(conn, partner_id):
                raise invalid(
                    "type", Text("A partner with resellers under it cannot become a reseller.")
                )
        row = await accounts.update_partner(conn, partner_id, changes)
        assert row is not None  # locked above
        changed = {k: v for k, v in changes.items() if stored.get(k) != v}
        if changed:
            await _audit(
                conn, who, _partner_action(changed), "partner", partner_id,
                before={k: stored[k] for k in changed}, after=changed,
            )  # fmt: skip
        return row


def _partner_action(changed: dict[str, Any]) -> str:
    if "frozen" in changed:
        return "partner.frozen" if changed["frozen"] else "partner.unfrozen"
    return "partner.updated"


async def create_partner_user(
    pool: AsyncConnectionPool,
    who: Principal,
    partner_id: UUID,
    name: str,
    permissions: list[str],
    email: str | None = None,
) -> PartnerUser:
    """A person of the partner, with each of `permissions` once (in order)."""
    require_operator(who)
    async with pool.connection() as conn:
        if await accounts.get_partner(conn, partner_id) is None:
            raise not_found(Text("partner"))
        async with conn.transaction():
            with _email_free():
                row = await accounts.create_partner_user(
                    conn, partner_id, name, sorted(set(permissions)), email
                )
            await _audit(
                conn, who, "partner_user.created", "partner_user", row.id, after=row.model_dump()
            )
    return row


async def create_customer_user(
    pool: AsyncConnectionPool, who: Principal, customer_id: UUID, name: str, email: str | None
) -> CustomerUser:
    """A person of the customer, acting for the customer account."""
    require_operator(who)
    async with pool.connection() as conn:
        if await accounts.get_customer(conn, customer_id) is None:
            raise not_found(Text("customer"))
        async with conn.transaction():
            with _email_free():
                row = await accounts.create_customer_user(conn, customer_id, name, email)
            await _audit(
                conn, who, "customer_user.created", "customer_user", row.id, after=row.model_dump()
            )
    return row


@contextmanager
def _email_free() -> Iterator[None]:
    try:
        yield
    except accounts.EmailTaken as taken:
        raise Failure(
            ProblemCode.EMAIL_TAKEN,
            Text("Another person signs in with this email."),
            errors=[{"loc": ["body", "email"]}],
        ) from taken


async def reset_mfa(pool: AsyncConnectionPool, who: Principal, person_id: UUID) -> None:
    """Forget a person's second factor (lost phone): they enrol again. Every console session of
    theirs ends; where their account requires verification their password goes too, so that
    only a new invitation lets them in, and enrolling comes before any page (whoever has the
    old password cannot enrol an authenticator of their own). On record. A lock from failed
    codes stays until its time is up."""
    require_operator(who)
    at = datetime.now(UTC)
    async with pool.connection() as conn, conn.transaction():
        if await accounts.get_person(conn, person_id) is None:
            raise not_found(Text("person"))
        had = await mfa.reset(conn, person_id)
        ended = await sessions.sign_out_everywhere(conn, person_id, at)
        needs_invitation = await sessions.verification_required(conn, person_id)
        if needs_invitation:
            await sessions.forget_password(conn, person_id)
        await _audit(
            conn, who, "mfa.reset", "person", person_id, before={"enrolled": had},
            after={"sessions_ended": ended, "password_cleared": needs_invitation},
        )  # fmt: skip


# --- customers and their standing ------------------------------------------------------------


async def create_customer(pool: AsyncConnectionPool, who: Principal, name: str) -> Customer:
    require_operator(who)
    async with pool.connection() as conn, conn.transaction():
        row = await accounts.create_customer(conn, name)
        await _audit(conn, who, "customer.created", "customer", row.id, after=row.model_dump())
    return row


async def get_customer(pool: AsyncConnectionPool, who: Principal, customer_id: UUID) -> Customer:
    require_operator(who)
    async with pool.connection() as conn:
        row = await accounts.get_customer(conn, customer_id)
    if row is None:
        raise not_found(Text("customer"))
    return row


async def put_standing(
    pool: AsyncConnectionPool, who: Principal, customer_id: UUID, standing: AccountStanding
) -> CustomerStanding:
    """Replace what the account check reads of the customer's account."""
    require_operator(who)
    async with pool.connection() as conn:
        if await accounts.get_customer(conn, customer_id) is None:
            raise not_found(Text("customer"))
        async with conn.transaction():
            before = await accounts.get_standing(conn, customer_id)
            row = await accounts.put_standing(conn, customer_id, standing)
            await _audit(
                conn, who, "standing.updated", "customer", customer_id,
                before=before.model_dump(mode="json"), after=standing.model_dump(mode="json"),
            )  # fmt: skip
    return row


async def get_standing(
    pool: AsyncConnectionPool, who: Principal, customer_id: UUID
) -> AccountStanding:
    require_operator(who)
    async with pool.connection() as conn:
        if await accounts.get_customer(conn, customer_id) is None:
            raise not_found(Text("customer"))
        return await accounts.get_standing(conn, customer_id)


# --- associations ----------------------------------------------------------------------------


async def create_association(
    pool: AsyncConnectionPool,
    who: Principal,
    partner_id: UUID,
    customer_id: UUID,
    association_type: AssociationType,
) -> Association:
    """A new active association, with its record; a customer has one active association."""
    require_operator(who)
    async with pool.connection() as conn:
        if await accounts.get_partner(conn, partner_id) is None:
            raise invalid("partner_id", Text("The partner does not exist."))
        if await accounts.get_customer(conn, customer_id) is None:
            raise invalid("customer_id", Text("The customer does not exist."))
        try:
            async with conn.transaction():
                row = await associations.create(
                    conn, partner_id, customer_id, association_type, who.ref
                )
                await _audit(
                    conn, who, "association.created", "association", row.id,
                    after=row.model_dump(),
                )  # fmt: skip
                return row
        except associations.CustomerAlreadyAssociated as exc:
            raise Failure(
                ProblemCode.CUSTOMER_ALREADY_ASSOCIATED,
                Text("The customer already has an active association; end it first."),
            ) from exc


async def get_association(
    pool: AsyncConnectionPool, who: Principal, association_id: UUID
) -> Association:
    require_operator(who)
    async with pool.connection() as conn:
        row = await associations.get(conn, association_id)
    if row is None:
        raise not_found(Text("association"))
    return row


async def change_association_type(
    pool: AsyncConnectionPool,
    who: Principal,
    association_id: UUID,
    association_type: AssociationType,
    reason: str | None = None,
) -> Association:
    """Change the type, with a record and an audit entry; the same type again changes
    nothing."""
    require_operator(who)
    async with pool.connection() as conn, conn.transaction():
        before = await associations.get(conn, association_id)
        if before is None:
            raise not_found(Text("association"))
        try:
            row = await associations.change_type(
                conn, association_id, association_type, who.ref, reason
            )
        except associations.TypeChangePending as pending:
            raise Failure(
                ProblemCode.REQUEST_PENDING,
                Text(
                    "Type change request {request_id} is pending on this association: cancel it"
                    " first, or let the parties decide it.",
                    request_id=pending.request_id,
                ),
            ) from None
        assert row is not None  # it was there a moment ago, and associations are never deleted
        if row.association_type != before.association_type:
            await _audit(
                conn, who, "association.type_changed", "association", association_id,
                before={"association_type": before.association_type},
                after={"association_type": row.association_type},
            )  # fmt: skip
    return row


# --- tokens ----------------------------------------------------------------------------------


async def create_token(
    pool: AsyncConnectionPool,
    who: Principal,
    *,
    subject_kind: SubjectKind,
    subject_id: str,
    expires_at: datetime | None = None,
    label: str | None = None,
) -> tuple[Token, str]:
    """A token for an operator (named freely), a person (a partner user or a customer user) or an
    account (a partner's or a customer's service token), the latter by id in any form of UUID
    ("urn:uuid:…", "{…}", upper case, no hyphens; the token keeps it canonical, as every other id
    is written). Returns its row and the token itself, the only time it is seen."""
    require_operator(who)
    kind: TokenSubjectKind = "customer_service" if subject_kind == "customer" else subject_kind
    try:
        subject_id = tokens.canonical_subject_id(kind, subject_id)
    except ValueError as exc:
        raise invalid(
            "subject_id", Text("Must be the id of the {name}.", name=SUBJECT_NAMES[kind])
        ) from exc
    async with pool.connection() as conn:
        if kind != "operator" and not await _subject_exists(conn, kind, UUID(subject_id)):
            raise invalid(
                "subject_id", Text("No {name} with this id exists.", name=SUBJECT_NAMES[kind])
            )
        async with conn.transaction():
            row, token = await tokens.create(
                conn,
                subject_kind=kind,
                subject_id=subject_id,
                created_by=who.ref,
                expires_at=expires_at,
                label=label,
            )
            await _audit(conn, who, "token.created", "token", row.id, after=row.model_dump())
    return row, token


SUBJECT_NAMES = {
    "operator": Text("operator"),
    "partner_user": Text("partner user"),
    "customer_user": Text("customer user"),
    "partner_service": Text("partner"),
    "customer_service": Text("customer"),
}


async def _subject_exists(conn: Connection, kind: TokenSubjectKind, subject: UUID) -> bool:
    if kind == "partner_service":
        return await accounts.get_partner(conn, subject) is not None
    if kind == "customer_service":
        return await accounts.get_customer(conn, subject) is not None
    person = await accounts.get_person(conn, subject)
    return person is not None and person.kind == kind


async def list_tokens(pool: AsyncConnectionPool, who: Principal) -> list[Token]:
    """Every token, newest first (never the token itself)."""
    require_operator(who)
    async with pool.connection() as conn:
        return await tokens.list_all(conn)


async def revoke_token(pool: AsyncConnectionPool, who: Principal, token_id: UUID) -> Token:
    """Revoke a token (again is fine): it is refused from now on."""
    require_operator(who)
    async with pool.connection() as conn, conn.transaction():
        row = await tokens.revoke(conn, token_id)
        if row is None:
            raise not_found(Text("token"))
        await _audit(
            conn, who, "token.revoked", "token", token_id, after={"revoked_at": row.revoked_at}
        )
    return row


# --- the audit log ---------------------------------------------------------------------------


@paged
async def audit_log(
    pool: AsyncConnectionPool, who: Principal, *, limit: int, cursor: str | None
) -> tuple[list[AuditEntry], str | None]:
    """Who created, froze or changed what, newest first."""
    require_operator(who)
    async with pool.connection() as conn:
        return await audit.list_actions(conn, limit=limit, cursor=cursor)


async def _audit(
    conn: Connection,
    who: Principal,
    action: str,
    kind: str,
    target: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record an operator's change; `before` and `after` as JSON (UUIDs and times as text)."""
    await audit.record(
        conn, who.ref, action, kind, target,
        before=None if before is None else _jsonable(before),
        after=None if after is None else _jsonable(after),
    )  # fmt: skip


def _jsonable(value: Any) -> Any:
    """`value` as JSON types, written as FastAPI's jsonable_encoder writes them (the audit log
    has always held them so): enums as their value, UUIDs as text, times in ISO 8601."""
    if isinstance(value, dict):
        return {_jsonable(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
