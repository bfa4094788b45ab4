"""GET /v1/associations: the caller's associations."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import Conn, Party
from api.pages import cursor_problem, page_response
from api.problems import not_found
from api.schemas import Limit, Page
from domain.types import Association, AssociationStatus, AssociationType, Permission
from store import associations

router = APIRouter(prefix="/v1/associations", tags=["associations"])


@router.get("", response_model=Page[Association])
async def list_associations(
    who: Party,
    conn: Conn,
    association_type: AssociationType | None = None,
    status: AssociationStatus | None = None,
    customer_id: UUID | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    who.require(Permission.ASSOCIATIONS_READ)
    with cursor_problem():
        rows, next_cursor = await associations.list_scoped(
            conn,
            who.party_scope(),
            association_type=association_type,
            status=status,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )
    return page_response(Page[Association](items=rows, next_cursor=next_cursor))


@router.get("/{association_id}", response_model=Association)
async def get_association(association_id: UUID, who: Party, conn: Conn) -> Association:
    row = await associations.get(conn, association_id, scope=who.read_scope())
    if row is None:
        raise not_found("association")
    who.require(Permission.ASSOCIATIONS_READ)
    return row
