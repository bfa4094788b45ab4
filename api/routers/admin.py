"""/v1/admin: operators set up partners, users, customers, standing, associations and tokens."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.encoders import jsonable_encoder

from api.deps import Conn, Operator, Principal
from api.pages import cursor_problem, page_response
from api.problems import Problem, not_found
from api.schemas import (
    AssociationIn,
    AssociationPatch,
    AuditEntry,
    Customer,
    CustomerIn,
    Limit,
    NewToken,
    Page,
    Partner,
    PartnerIn,
    PartnerPatch,
    PartnerUser,
    PartnerUserIn,
    Standing,
    StandingOut,
    Token,
    TokenIn,
)
from domain.types import AccountStanding, Association
from store import accounts, associations, audit, tokens
from store.rows import CustomerStanding

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422, "validation_error", message, errors=[{"loc": ["body", field], "msg": message}]
    )


async def _check_parent(
    conn: Conn, partner_type: str, parent_id: UUID | None, self_id: UUID | None = None
) -> None:
    """A reseller may sit under a distributor or PSP; nothing else has a parent."""
    if parent_id is None:
        return
    if partner_type != "reseller":
        raise _invalid("parent_partner_id", "Only a reseller can have a parent partner.")
    parent = await accounts.get_partner(conn, parent_id)
    if parent is None or parent_id == self_id:
        raise _invalid("parent_partner_id", "The parent partner does not exist.")
    if parent.type not in ("distributor", "psp"):
        raise _invalid("parent_partner_id", "The parent must be a distributor or a PSP.")


@router.post("/partners", status_code=201, response_model=Partner)
async def create_partner(body: PartnerIn, who: Operator, conn: Conn) -> Partner:
    await _check_parent(conn, body.type, body.parent_partner_id)
    async with conn.transaction():
        row = await accounts.create_partner(conn, body.model_dump())
        await _audit(conn, who, "partner.created", "partner", row.id, after=row.model_dump())
    return row


@router.get("/partners", response_model=list[Partner])
async def list_partners(who: Operator, conn: Conn) -> list[Partner]:
    return await accounts.list_partners(conn)


@router.get("/partners/{partner_id}", response_model=Partner)
async def get_partner(partner_id: UUID, who: Operator, conn: Conn) -> Partner:
    row = await accounts.get_partner(conn, partner_id)
    if row is None:
        raise not_found("partner")
    return row


@router.patch("/partners/{partner_id}", response_model=Partner)
async def update_partner(
    partner_id: UUID, body: PartnerPatch, who: Operator, conn: Conn
) -> Partner:
    changes = body.model_dump(exclude_unset=True)
    async with conn.transaction():
        current = await accounts.get_partner(conn, partner_id, lock=True)
        if current is None:
            raise not_found("partner")
        stored = current.model_dump()
        merged = {**stored, **changes}
        if "type" in changes or "parent_partner_id" in changes:
            await _check_parent(conn, merged["type"], merged["parent_partner_id"], partner_id)
            if merged["type"] == "reseller" and await accounts.child_partner_ids(conn, partner_id):
                raise _invalid(
                    "type", "A partner with resellers under it cannot become a reseller."
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


@router.post("/partners/{partner_id}/users", status_code=201, response_model=PartnerUser)
async def create_partner_user(
    partner_id: UUID, body: PartnerUserIn, who: Operator, conn: Conn
) -> PartnerUser:
    if await accounts.get_partner(conn, partner_id) is None:
        raise not_found("partner")
    async with conn.transaction():
        row = await accounts.create_partner_user(
            conn, partner_id, body.name, sorted(set(body.permissions))
        )
        await _audit(
            conn, who, "partner_user.created", "partner_user", row.id, after=row.model_dump()
        )
    return row


@router.post("/customers", status_code=201, response_model=Customer)
async def create_customer(body: CustomerIn, who: Operator, conn: Conn) -> Customer:
    async with conn.transaction():
        row = await accounts.create_customer(conn, body.name)
        await _audit(conn, who, "customer.created", "customer", row.id, after=row.model_dump())
    return row


@router.get("/customers/{customer_id}", response_model=Customer)
async def get_customer(customer_id: UUID, who: Operator, conn: Conn) -> Customer:
    row = await accounts.get_customer(conn, customer_id)
    if row is None:
        raise not_found("customer")
    return row


@router.put("/customers/{customer_id}/standing", response_model=StandingOut)
async def put_standing(
    customer_id: UUID, body: Standing, who: Operator, conn: Conn
) -> CustomerStanding:
    if await accounts.get_customer(conn, customer_id) is None:
        raise not_found("customer")
    standing = AccountStanding.model_validate(body.model_dump())
    async with conn.transaction():
        before = await accounts.get_standing(conn, customer_id)
        row = await accounts.put_standing(conn, customer_id, standing)
        await _audit(
            conn, who, "standing.updated", "customer", customer_id,
            before=before.model_dump(mode="json"), after=standing.model_dump(mode="json"),
        )  # fmt: skip
    return row


@router.get("/customers/{customer_id}/standing", response_model=AccountStanding)
async def get_standing(customer_id: UUID, who: Operator, conn: Conn) -> AccountStanding:
    if await accounts.get_customer(conn, customer_id) is None:
        raise not_found("customer")
    return await accounts.get_standing(conn, customer_id)


@router.post("/associations", status_code=201, response_model=Association)
async def create_association(body: AssociationIn, who: Operator, conn: Conn) -> Association:
    if await accounts.get_partner(conn, body.partner_id) is None:
        raise _invalid("partner_id", "The partner does not exist.")
    if await accounts.get_customer(conn, body.customer_id) is None:
        raise _invalid("customer_id", "The customer does not exist.")
    try:
        async with conn.transaction():
            row = await associations.create(
                conn, body.partner_id, body.customer_id, body.association_type, who.ref
            )
            await _audit(
                conn, who, "association.created", "association", row.id, after=row.model_dump()
            )
            return row
    except associations.CustomerAlreadyAssociated as exc:
        raise Problem(
            409,
            "customer_already_associated",
            "The customer already has an active association; end it first.",
        ) from exc


@router.get("/associations/{association_id}", response_model=Association)
async def get_association(association_id: UUID, who: Operator, conn: Conn) -> Association:
    row = await associations.get(conn, association_id)
    if row is None:
        raise not_found("association")
    return row


@router.patch("/associations/{association_id}", response_model=Association)
async def change_association_type(
    association_id: UUID, body: AssociationPatch, who: Operator, conn: Conn
) -> Association:
    async with conn.transaction():
        before = await associations.get(conn, association_id)
        if before is None:
            raise not_found("association")
        row = await associations.change_type(
            conn, association_id, body.association_type, who.ref, body.reason
        )
        assert row is not None  # it was there a moment ago, and associations are never deleted
        if row.association_type != before.association_type:
            await _audit(
                conn, who, "association.type_changed", "association", association_id,
                before={"association_type": before.association_type},
                after={"association_type": row.association_type},
            )  # fmt: skip
    return row


@router.post("/tokens", status_code=201, response_model=NewToken)
async def create_token(body: TokenIn, who: Operator, conn: Conn, response: Response) -> NewToken:
    """A partner user's or customer's id may come in any form of UUID ("urn:uuid:…", "{…}",
    upper case, no hyphens): the token keeps it canonical, as every other id is written."""
    try:
        subject_id = tokens.canonical_subject_id(body.subject_kind, body.subject_id)
    except ValueError as exc:
        raise _invalid("subject_id", "Must be the id of a partner user or a customer.") from exc
    if body.subject_kind != "operator":
        lookup = (
            accounts.get_partner_user
            if body.subject_kind == "partner_user"
            else accounts.get_customer
        )
        if await lookup(conn, UUID(subject_id)) is None:
            raise _invalid("subject_id", f"No {body.subject_kind} with this id exists.")
    async with conn.transaction():
        row, token = await tokens.create(
            conn,
            subject_kind=body.subject_kind,
            subject_id=subject_id,
            created_by=who.ref,
            expires_at=body.expires_at,
            label=body.label,
        )
        await _audit(conn, who, "token.created", "token", row.id, after=row.model_dump())
    response.headers["Cache-Control"] = "no-store"
    return NewToken(**row.model_dump(), token=token)


@router.get("/tokens", response_model=list[Token])
async def list_tokens(who: Operator, conn: Conn) -> list[Token]:
    return await tokens.list_all(conn)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: UUID, who: Operator, conn: Conn) -> Response:
    async with conn.transaction():
        row = await tokens.revoke(conn, token_id)
        if row is None:
            raise not_found("token")
        await _audit(
            conn, who, "token.revoked", "token", token_id, after={"revoked_at": row.revoked_at}
        )
    return Response(status_code=204)


@router.get("/audit-log", response_model=Page[AuditEntry])
async def audit_log(
    who: Operator,
    conn: Conn,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Who created, froze or changed what, newest first."""
    with cursor_problem():
        rows, next_cursor = await audit.list_actions(conn, limit=limit, cursor=cursor)
    return page_response(Page[AuditEntry](items=rows, next_cursor=next_cursor))


async def _audit(
    conn: Conn,
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
        before=None if before is None else jsonable_encoder(before),
        after=None if after is None else jsonable_encoder(after),
    )  # fmt: skip
