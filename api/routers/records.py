"""GET /v1/association-records: who did what, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import App, Party
from api.pages import page_response
from api.schemas import Limit, Page, Record
from application import records
from application.records import RecordKind

router = APIRouter(prefix="/v1/association-records", tags=["records"])


@router.get("", response_model=Page[Record], operation_id="listAssociationRecords")
async def list_records(
    who: Party,
    app: App,
    kind: RecordKind | None = None,
    customer_id: UUID | None = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Manage Association Records: associations made and ended, type changes, and every
    step of every request, each with its actor, time and reason. Newest first; filter by
    `kind`, `customer_id`, `status`, `from`, `to`; pages of `limit` with `cursor`."""
    rows, next_cursor = await records.list_records(
        app,
        who,
        kind=kind,
        customer_id=customer_id,
        status=status,
        from_=from_,
        to=to,
        limit=limit,
        cursor=cursor,
    )
    return page_response(Page[Record](items=rows, next_cursor=next_cursor))
