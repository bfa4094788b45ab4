"""Association records: who associated, changed or ended what, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from application.errors import paged
from application.principal import Principal
from application.services import Services
from domain.types import Permission
from store import records
from store.rows import Record

RecordKind = Literal["association", "type_change", "disassociation", "partner_change"]


@paged
async def list_records(
    svc: Services,
    who: Principal,
    *,
    kind: RecordKind | None,
    customer_id: UUID | None,
    status: str | None,
    from_: datetime | None,
    to: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Record], str | None]:
    """The records of the associations the caller may read, newest first, filtered by kind,
    customer, status and a time range (`from_` and `to`, as the SPEC's `from` and `to`)."""
    who.require(Permission.ASSOCIATIONS_READ)
    async with svc.pool.connection() as conn:
        return await records.list_records(
            conn,
            who.party_scope(),
            kind=kind,
            customer_id=customer_id,
            status=status,
            from_=from_,
            to=to,
            limit=limit,
            cursor=cursor,
        )
