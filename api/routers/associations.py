"""GET /v1/associations: the caller's associations."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import App, Party
from api.pages import page_response
from api.schemas import Limit, Page
from application import associations
from domain.types import Association, AssociationStatus, AssociationType

router = APIRouter(prefix="/v1/associations", tags=["associations"])


@router.get("", response_model=Page[Association], operation_id="listAssociations")
async def list_associations(
    who: Party,
    app: App,
    association_type: AssociationType | None = None,
    status: AssociationStatus | None = None,
    customer_id: UUID | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The caller's associations, newest first; a distributor or PSP sees those of the
    resellers under it too. Filter by type, status and customer; pages of `limit` with `cursor`."""
    rows, next_cursor = await associations.list_associations(
        app,
        who,
        association_type=association_type,
        status=status,
        customer_id=customer_id,
        limit=limit,
        cursor=cursor,
    )
    return page_response(Page[Association](items=rows, next_cursor=next_cursor))


@router.get("/{association_id}", response_model=Association, operation_id="getAssociation")
async def get_association(association_id: UUID, who: Party, app: App) -> Association:
    """One association the caller may see; any other id is 404."""
    return await associations.get(app, who, association_id)
