"""/v1/admin: operators set up partners, customers and their people, standing, associations and
tokens, invite people to the console, and reset a person's second factor."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import App, Operator
from api.pages import page_response
from api.schemas import (
    AssociationIn,
    AssociationPatch,
    AuditEntry,
    Customer,
    CustomerIn,
    CustomerUserIn,
    Limit,
    NewInvitation,
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
from application import admin, sessions
from application.admin import CustomerStanding, CustomerUser
from domain.types import AccountStanding, Association

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/partners", status_code=201, response_model=Partner, operation_id="createPartner")
async def create_partner(body: PartnerIn, who: Operator, app: App) -> Partner:
    """A partner: a reseller (under a distributor or PSP, or not), a distributor or a PSP."""
    return await admin.create_partner(
        app.pool,
        who,
        name=body.name,
        partner_type=body.type,
        parent_partner_id=body.parent_partner_id,
        frozen=body.frozen,
    )


@router.get("/partners", response_model=list[Partner], operation_id="listPartners")
async def list_partners(who: Operator, app: App) -> list[Partner]:
    """Every partner."""
    return await admin.list_partners(app.pool, who)


@router.get("/partners/{partner_id}", response_model=Partner, operation_id="getPartner")
async def get_partner(partner_id: UUID, who: Operator, app: App) -> Partner:
    """One partner."""
    return await admin.get_partner(app.pool, who, partner_id)


@router.patch("/partners/{partner_id}", response_model=Partner, operation_id="updatePartner")
async def update_partner(partner_id: UUID, body: PartnerPatch, who: Operator, app: App) -> Partner:
    """Rename, retype, move or freeze a partner (a frozen partner's requests fail the
    check); on the audit log."""
    return await admin.update_partner(
        app.pool, who, partner_id, body.model_dump(exclude_unset=True)
    )


@router.post(
    "/partners/{partner_id}/users",
    status_code=201,
    response_model=PartnerUser,
    operation_id="createPartnerUser",
)
async def create_partner_user(
    partner_id: UUID, body: PartnerUserIn, who: Operator, app: App
) -> PartnerUser:
    """A person of the partner, with permissions (or the `admin` role)."""
    return await admin.create_partner_user(
        app.pool, who, partner_id, body.name, list(body.permissions), body.email
    )


@router.post(
    "/customers/{customer_id}/users",
    status_code=201,
    response_model=CustomerUser,
    operation_id="createCustomerUser",
)
async def create_customer_user(
    customer_id: UUID, body: CustomerUserIn, who: Operator, app: App
) -> CustomerUser:
    """A person of the customer: acts for the customer account (API tokens, the console)."""
    return await admin.create_customer_user(app.pool, who, customer_id, body.name, body.email)


@router.post(
    "/people/{person_id}/invitation",
    status_code=201,
    response_model=NewInvitation,
    operation_id="invitePerson",
)
async def invite_person(
    person_id: UUID, who: Operator, app: App, response: Response
) -> NewInvitation:
    """A one-time link for the person to set their console password and then enrol an
    authenticator, valid ASSOCFLOW_INVITATION_TTL; it replaces the person's unused one. No
    Idempotency-Key: keeping the response would keep the link."""
    invitation = await sessions.invite(app, who, person_id)
    response.headers["Cache-Control"] = "no-store"
    return NewInvitation(
        person_id=invitation.person_id, url=invitation.url, expires_at=invitation.expires_at
    )


@router.delete("/people/{person_id}/mfa", status_code=204, operation_id="resetPersonMfa")
async def reset_mfa(person_id: UUID, who: Operator, app: App) -> Response:
    """Forget a person's authenticator (a lost phone): they enrol again. On the audit log."""
    await admin.reset_mfa(app.pool, who, person_id)
    return Response(status_code=204)


@router.post("/customers", status_code=201, response_model=Customer, operation_id="createCustomer")
async def create_customer(body: CustomerIn, who: Operator, app: App) -> Customer:
    """A customer account."""
    return await admin.create_customer(app.pool, who, body.name)


@router.get("/customers/{customer_id}", response_model=Customer, operation_id="getCustomer")
async def get_customer(customer_id: UUID, who: Operator, app: App) -> Customer:
    """One customer."""
    return await admin.get_customer(app.pool, who, customer_id)


@router.put(
    "/customers/{customer_id}/standing",
    response_model=StandingOut,
    operation_id="setCustomerStanding",
)
async def put_standing(
    customer_id: UUID, body: Standing, who: Operator, app: App
) -> CustomerStanding:
    """The customer's account standing, which the account check reads; on the audit log."""
    standing = AccountStanding.model_validate(body.model_dump())
    return await admin.put_standing(app.pool, who, customer_id, standing)


@router.get(
    "/customers/{customer_id}/standing",
    response_model=AccountStanding,
    operation_id="getCustomerStanding",
)
async def get_standing(customer_id: UUID, who: Operator, app: App) -> AccountStanding:
    """The customer's account standing."""
    return await admin.get_standing(app.pool, who, customer_id)


@router.post(
    "/associations", status_code=201, response_model=Association, operation_id="createAssociation"
)
async def create_association(body: AssociationIn, who: Operator, app: App) -> Association:
    """Associate a customer with a partner; a customer has at most one active
    association."""
    return await admin.create_association(
        app.pool, who, body.partner_id, body.customer_id, body.association_type
    )


@router.get(
    "/associations/{association_id}",
    response_model=Association,
    operation_id="getAssociationAsOperator",
)
async def get_association(association_id: UUID, who: Operator, app: App) -> Association:
    """Any association."""
    return await admin.get_association(app.pool, who, association_id)


@router.patch(
    "/associations/{association_id}",
    response_model=Association,
    operation_id="changeAssociationType",
)
async def change_association_type(
    association_id: UUID, body: AssociationPatch, who: Operator, app: App
) -> Association:
    """Change the association's type; the change is on record, with the reason."""
    return await admin.change_association_type(
        app.pool, who, association_id, body.association_type, body.reason
    )


@router.post("/tokens", status_code=201, response_model=NewToken, operation_id="createToken")
async def create_token(body: TokenIn, who: Operator, app: App, response: Response) -> NewToken:
    """A partner user's or customer's id may come in any form of UUID ("urn:uuid:…", "{…}",
    upper case, no hyphens): the token keeps it canonical, as every other id is written."""
    row, token = await admin.create_token(
        app.pool,
        who,
        subject_kind=body.subject_kind,
        subject_id=body.subject_id,
        expires_at=body.expires_at,
        label=body.label,
    )
    response.headers["Cache-Control"] = "no-store"
    return NewToken(**row.model_dump(), token=token)


@router.get("/tokens", response_model=list[Token], operation_id="listTokens")
async def list_tokens(who: Operator, app: App) -> list[Token]:
    """Every token, without the token itself (only its hash is kept)."""
    return await admin.list_tokens(app.pool, who)


@router.delete("/tokens/{token_id}", status_code=204, operation_id="revokeToken")
async def revoke_token(token_id: UUID, who: Operator, app: App) -> Response:
    """Revoke a token: it is refused from the next request on."""
    await admin.revoke_token(app.pool, who, token_id)
    return Response(status_code=204)


@router.get("/audit-log", response_model=Page[AuditEntry], operation_id="listAuditLog")
async def audit_log(
    who: Operator,
    app: App,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Who created, froze or changed what, newest first."""
    rows, next_cursor = await admin.audit_log(app.pool, who, limit=limit, cursor=cursor)
    return page_response(Page[AuditEntry](items=rows, next_cursor=next_cursor))
