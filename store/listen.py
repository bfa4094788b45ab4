"""Notifications as they are written: the `notifications` table's trigger announces each new row
on a channel (migrations/0007), and one LISTEN connection per process hears them all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

import psycopg

CHANNEL = "assocflow_notifications"


@dataclass(frozen=True)
class Written:
    """A notification just written: to whom, about which request, of what kind."""

    recipient_kind: str
    recipient_id: UUID
    request_id: UUID | None
    event_type: str


@asynccontextmanager
async def listening(database_url: str) -> AsyncIterator[AsyncIterator[Written]]:
    """Listen from now on (the LISTEN is in place on entry): yields the notifications written
    after it, as their transactions commit, until the connection ends."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        yield _written(conn)


async def _written(conn: psycopg.AsyncConnection[object]) -> AsyncIterator[Written]:
    async for notify in conn.notifies():
        try:
            data = json.loads(notify.payload)
            yield Written(
                recipient_kind=data["recipient_kind"],
                recipient_id=UUID(data["recipient_id"]),
                request_id=UUID(data["request_id"]) if data.get("request_id") else None,
                event_type=data["event_type"],
            )
        except (ValueError, KeyError, TypeError):
            continue  # not one of ours
