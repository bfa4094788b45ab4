"""The peer a user would pick instead of Temporal: the same disassociation lifecycle as a plain
FastAPI app on PostgreSQL. A request is a row with a status column; its deadline is a row in a
table of due deadlines that a loop polls every second; everything a step changes is one
transaction. It runs the same rules (domain/checks.py's account check, on the same facts: the
association, its partner, the customer's standing, the pending request, the request limit) and
writes the same things (the request, its records, the notifications in the message center's
words), through the same routes and JSON as assocflow's API, so the bench drives both alike.

What it leaves out is what Temporal gives assocflow, priced in docs/PERFORMANCE.md: an operator's
view of each request (its history, search attributes, signals from the Web UI), durable timers
that fire once whatever restarts, retries of each step with their state kept, and versioned
workflow code. It has no idempotency keys, rate limits, access log or metrics either: a floor,
not a product. `python -m bench.peer DATABASE_URL PORT` serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from assocflow.process import run_main
from assocflow.settings import Settings
from domain import checks, messages
from domain.types import (
    AccountStanding,
    AssociationType,
    CheckFacts,
    PendingRequest,
    RequestKind,
    RequestStatus,
    Side,
)
from server.__main__ import SERVING
from store import tokens
from store.db import open_pool

POLL_SECONDS = 1.0
ASK = messages.Ask(RequestKind.DISASSOCIATION)

SCHEMA = """
CREATE TABLE IF NOT EXISTS peer_requests (
    id             uuid PRIMARY KEY,
    association_id uuid NOT NULL,
    partner_id     uuid NOT NULL,
    customer_id    uuid NOT NULL,
    initiator      text NOT NULL,
    reason         text NOT NULL,
    status         text NOT NULL,
    submitted_at   timestamptz NOT NULL,
    respond_by     timestamptz NOT NULL,
    decided_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS peer_one_pending ON peer_requests (association_id)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS peer_requests_by_customer ON peer_requests (customer_id, initiator);
CREATE TABLE IF NOT EXISTS peer_deadlines (
    request_id uuid PRIMARY KEY,
    due_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS peer_deadlines_due ON peer_deadlines (due_at);
CREATE TABLE IF NOT EXISTS peer_records (
    id             bigserial PRIMARY KEY,
    request_id     uuid NOT NULL,
    association_id uuid NOT NULL,
    action         text NOT NULL,
    actor          text NOT NULL,
    reason         text,
    at             timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_notifications (
    id             bigserial PRIMARY KEY,
    recipient_kind text NOT NULL,
    recipient_id   uuid NOT NULL,
    event_type     text NOT NULL,
    summary        text NOT NULL,
    request_id     uuid NOT NULL,
    created_at     timestamptz NOT NULL
);
"""

# The facts of the account check, read at once under the association's lock.
FACTS = """
SELECT a.partner_id, a.customer_id, a.association_type, a.status = 'active' AS active,
       p.name AS partner_name, c.name AS customer_name, p.frozen AS partner_frozen,
       coalesce(pp.frozen, false) AS parent_frozen, to_jsonb(s) AS standing,
       (SELECT id FROM peer_requests r WHERE r.association_id = a.id AND r.status = 'pending')
           AS pending_id,
       ARRAY(SELECT submitted_at FROM peer_requests r
             WHERE r.customer_id = a.customer_id AND r.initiator = 'customer') AS accepted
FROM associations a
JOIN partners p ON p.id = a.partner_id
LEFT JOIN partners pp ON pp.id = p.parent_partner_id
JOIN customers c ON c.id = a.customer_id
LEFT JOIN account_standing s ON s.customer_id = a.customer_id
WHERE a.id = %s
FOR UPDATE OF a
"""


class Submit(BaseModel):
    association_id: UUID
    reason: str
    acknowledged: bool


def problem(status: int, code: str) -> JSONResponse:
    return JSONResponse(
        {"type": f"urn:peer:{code}", "title": code, "status": status, "code": code},
        status_code=status,
        media_type="application/problem+json",
    )


async def caller(conn: Any, authorization: str | None) -> tuple[str, str] | None:
    """(subject kind, subject id) of a bearer token, as assocflow's API reads it."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    cur = await conn.execute(
        "SELECT subject_kind, subject_id FROM api_tokens WHERE token_hash = %s"
        " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        (tokens.token_hash(token),),
    )
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1])


async def notify(
    conn: Any,
    recipients: list[tuple[str, UUID]],
    event_type: str,
    summary: str,
    request_id: UUID,
    at: datetime,
) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO peer_notifications"
            " (recipient_kind, recipient_id, event_type, summary, request_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(kind, rid, event_type, summary, request_id, at) for kind, rid in recipients],
        )


async def settle(conn: Any, request_id: UUID, status: RequestStatus, actor: str) -> bool:
    """Settle a pending request (agreed by the partner, or auto-agreed at its deadline): the
    association ends, both sides are told. False if it was no longer pending."""
    at = datetime.now(UTC)
    cur = await conn.execute(
        "UPDATE peer_requests SET status = %s, decided_at = %s"
        " WHERE id = %s AND status = 'pending'"
        " RETURNING association_id, partner_id, customer_id,"
        " (SELECT name FROM partners WHERE id = partner_id),"
        " (SELECT name FROM customers WHERE id = customer_id)",
        (status.value, at, request_id),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    association_id, partner_id, customer_id, partner_name, customer_name = row
    await conn.execute("DELETE FROM peer_deadlines WHERE request_id = %s", (request_id,))
    await conn.execute(
        "UPDATE associations SET status = 'ended', ended_at = %s, ended_by_request_id = %s"
        " WHERE id = %s",
        (at, request_id, association_id),
    )
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO peer_records (request_id, association_id, action, actor, reason, at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (request_id, association_id, status.value, actor, None, at),
                (request_id, association_id, "ended", actor, None, at),
            ],
        )
    both = [("partner", partner_id), ("customer", customer_id)]
    outcome = str(messages.outcome(ASK, status, partner_name, customer_name))
    ended = str(messages.association_ended(partner_name, customer_name))
    await notify(conn, both, f"disassociation.{status.value}", outcome, request_id, at)
    await notify(conn, both, "association.ended", ended, request_id, at)
    return True


def create_app(database_url: str) -> FastAPI:
    policy = Settings().policy()

    async def deadlines(app: FastAPI) -> None:
        """The loop a user writes in place of durable timers: every second, settle what is due."""
        while True:
            async with app.state.pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "SELECT request_id FROM peer_deadlines WHERE due_at <= now()"
                    " ORDER BY due_at LIMIT 100 FOR UPDATE SKIP LOCKED"
                )
                for (request_id,) in await cur.fetchall():
                    await settle(conn, request_id, RequestStatus.AUTO_AGREED, "system:peer")
            await asyncio.sleep(POLL_SECONDS)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(database_url)
        async with app.state.pool.connection() as conn:
            await conn.execute(SCHEMA)
        loop = asyncio.create_task(deadlines(app))
        try:
            yield
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/disassociations", status_code=201)
    async def submit(
        body: Submit, request: Request, authorization: str | None = Header(default=None)
    ) -> Any:
        if not body.acknowledged or not body.reason.strip():
            return problem(422, "validation_error")
        async with request.app.state.pool.connection() as conn, conn.transaction():
            who = await caller(conn, authorization)
            if who is None or who[0] not in ("customer", "customer_service"):
                return problem(401, "unauthorized")
            cur = await conn.execute(FACTS, (body.association_id,))
            row = await cur.fetchone()
            if row is None or str(row[1]) != who[1]:
                return problem(404, "not_found")
            (partner_id, customer_id, association_type, active, partner_name, customer_name,
             partner_frozen, parent_frozen, standing, pending_id, accepted) = row  # fmt: skip
            now = datetime.now(UTC)
            facts = CheckFacts(
                association_active=active,
                association_type=AssociationType(association_type),
                pending=None
                if pending_id is None
                else PendingRequest(id=pending_id, kind=RequestKind.DISASSOCIATION),
                accepted_requests=accepted,
                partner_frozen=partner_frozen,
                parent_partner_frozen=parent_frozen,
                standing=AccountStanding.model_validate(
                    {k: v for k, v in (standing or {}).items() if k in AccountStanding.model_fields}
                ),
            )
            result = checks.evaluate(RequestKind.DISASSOCIATION, Side.CUSTOMER, facts, policy, now)
            if not result.passed:
                return problem(422, "check_failed")
            request_id = uuid.uuid4()
            respond_by = now + policy.response_window
            await conn.execute(
                "INSERT INTO peer_requests (id, association_id, partner_id, customer_id,"
                " initiator, reason, status, submitted_at, respond_by)"
                " VALUES (%s, %s, %s, %s, 'customer', %s, 'pending', %s, %s)",
                (request_id, body.association_id, partner_id, customer_id, body.reason, now,
                 respond_by),
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO peer_deadlines (request_id, due_at) VALUES (%s, %s)",
                (request_id, respond_by),
            )
            await conn.execute(
                "INSERT INTO peer_records (request_id, association_id, action, actor, reason, at)"
                " VALUES (%s, %s, 'requested', %s, %s, %s)",
                (request_id, body.association_id, f"customer:{customer_id}", body.reason, now),
            )
            said = messages.requested(ASK, Side.CUSTOMER, partner_name, customer_name, respond_by)
            both = [("partner", partner_id), ("customer", customer_id)]
            await notify(conn, both, "disassociation.requested", str(said), request_id, now)
        return {"id": str(request_id), "status": "pending", "respond_by": respond_by.isoformat()}

    @app.post("/v1/disassociations/{request_id}/agree")
    async def agree(
        request_id: UUID, request: Request, authorization: str | None = Header(default=None)
    ) -> Any:
        async with request.app.state.pool.connection() as conn, conn.transaction():
            who = await caller(conn, authorization)
            if who is None or who[0] != "partner_user":
                return problem(401, "unauthorized")
            cur = await conn.execute(
                "SELECT r.status FROM peer_requests r JOIN partner_users u"
                " ON u.partner_id = r.partner_id AND u.id = %s"
                " WHERE r.id = %s FOR UPDATE OF r",
                (UUID(who[1]), request_id),
            )
            row = await cur.fetchone()
            if row is None:
                return problem(404, "not_found")
            if not await settle(conn, request_id, RequestStatus.AGREED, f"partner_user:{who[1]}"):
                return problem(409, "not_pending")
        return {"id": str(request_id), "status": "agreed"}

    return app


def serve(database_url: str, port: int) -> None:
    # Served as `python -m server` serves.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            create_app(database_url),
            host="127.0.0.1",
            port=port,
            **SERVING,
        )


if __name__ == "__main__":
    run_main(lambda: serve(sys.argv[1], int(sys.argv[2])))
