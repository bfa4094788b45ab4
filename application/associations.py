"""Associations as their parties read them: the caller's list, and one by id."""

from __future__ import annotations

from uuid import UUID

from application.errors import not_found, paged
from application.principal import Principal
from application.services import Services
from domain.text import Text
from domain.types import Association, AssociationStatus, AssociationType, Permission
from store import associations


@paged
async def list_associations(
    svc: Services,
    who: Principal,
    *,
    association_type: AssociationType | None,
    status: AssociationStatus | None,
    customer_id: UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Association], str | None]:
    """The associations the caller may read, newest first, a page at a time."""
    who.require(Permission.ASSOCIATIONS_READ)
    async with svc.pool.connection() as conn:
        return await associations.list_scoped(
            conn,
            who.party_scope(),
            association_type=association_type,
            status=status,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )


async def get(svc: Services, who: Principal, association_id: UUID) -> Association:
    """One association: not found outside the caller's scope, forbidden without the
    permission to read associations."""
    async with svc.pool.connection() as conn:
        row = await associations.get(conn, association_id, scope=who.read_scope())
    if row is None:
        raise not_found(Text("association"))
    who.require(Permission.ASSOCIATIONS_READ)
    return row
