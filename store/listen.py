"""Listening to PostgreSQL's channels. Notifications as they are written: the `notifications`
table's trigger announces each new row on a channel (migrations/0007), and one LISTEN connection
per process hears them all; the webhook relay is woken on a channel of its own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

from psycopg import sql

from store.db import dedicated_connection

CHANNEL = "assocflow_notifications"


@dataclass(frozen=True)
class Written:
    """A notification just written: to whom, about which request, of what kind."""

    recipient_kind: str
    recipient_id: UUID
    request_id: UUID | None
    event_type: str


@asynccontextmanager
async def channel(database_url: str, name: str) -> AsyncIterator[AsyncIterator[str]]:
    """Listen on channel `name` from now on (the LISTEN is in place on entry): yields the payloads
    sent to it, as their transactions commit, until the connection ends (the iteration raises
    then: the caller listens again, and what was sent meanwhile was not heard)."""
    async with await dedicated_connection(database_url) as conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
        yield (notify.payload async for notify in conn.notifies())


@asynccontextmanager
async def listening(database_url: str) -> AsyncIterator[AsyncIterator[Written]]:
    """The notifications written from now on, as `channel` hears them."""
    async with channel(database_url, CHANNEL) as payloads:
        yield _written(payloads)


async def _written(payloads: AsyncIterator[str]) -> AsyncIterator[Written]:
    async for payload in payloads:
        try:
            data = json.loads(payload)
            yield Written(
                recipient_kind=data["recipient_kind"],
                recipient_id=UUID(data["recipient_id"]),
                request_id=UUID(data["request_id"]) if data.get("request_id") else None,
                event_type=data["event_type"],
            )
        except (ValueError, KeyError, TypeError):
            continue  # not one of ours
