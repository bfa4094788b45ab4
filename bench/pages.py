"""The console pages people wait for, at scale, each beside the same query through the JSON API.

On the records benchmark's data (a partner with 50,000 customers among 10,000,000 records), a
partner admin's console session and its API token read, interleaved: Customer Management (the
first page, a search, a late page), each records tab, a request's page and the message center.
The time is the answer's, seen from this machine's loopback (no network between): the server's
time and a few hundred microseconds of the client's.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg

from bench import common
from console.auth import SESSION_COOKIE  # the stack serves http
from store import overview, sessions
from store.pagination import encode_cursor
from store.scope import Scope

PAGE = 20  # the console's page size; the API is asked for the same
REQUESTS_EACH = 100_000  # the big partner's closed disassociations, and its partner changes
NOTIFICATIONS = 500_000  # the big partner's messages
LATE = 40_000  # customers before Customer Management's late page


async def fill(
    database_url: str,
    data: dict[str, Any],
    *,
    requests_each: int = REQUESTS_EACH,
    notifications: int = NOTIFICATIONS,
) -> dict[str, Any]:
    """The big partner's console person and session, its closed requests of two kinds and its
    messages; what each page names (a request, a customer, a late cursor)."""
    partner, user = data["partner_id"], data["user_id"]
    token, at = sessions.new_token(), datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO people (id, kind, email) VALUES (%s, 'partner_user', 'bench@example.com')",
            (user,),
        )
        await sessions.open_session(
            conn, user, token=token, verified=True, at=at, expires_at=at + timedelta(days=1)
        )
        await _requests(conn, partner, requests_each)
        await _notifications(conn, partner, notifications)
        await conn.execute("ANALYZE")
        request = await common.value(conn, UUID,
            "SELECT id FROM requests WHERE partner_id = %s AND kind = 'disassociation'"
            " ORDER BY submitted_at DESC LIMIT 1", (partner,),
        )  # fmt: skip
        customers = await common.value(
            conn, int, "SELECT count(*) FROM associations WHERE partner_id = %s", (partner,)
        )
        late = min(LATE, customers * 4 // 5)
        row = await (
            await conn.execute(
                "SELECT a.associated_at, a.id, a.customer_id, c.name FROM associations a"
                " JOIN customers c ON c.id = a.customer_id WHERE a.partner_id = %s"
                " ORDER BY a.associated_at DESC, a.id DESC OFFSET %s LIMIT 1",
                (partner, late),
            )
        ).fetchone()
        assert row is not None
    return {
        "cookie": {"Cookie": f"{SESSION_COOKIE}={token}"},
        "request_id": request,
        "late_cursor": encode_cursor(row[0], row[1]),
        "late": late,
        "customer_id": row[2],
        "customer_name": row[3],
    }


async def _requests(conn: psycopg.AsyncConnection[Any], partner: UUID, each: int) -> None:
    """Closed requests on the partner's associations: rejected disassociations, and partner
    changes to another reseller that it declined."""
    common_columns = (
        "id, kind, association_id, partner_id, customer_id, initiator, requested_by, status,"
        " reason, submitted_at, respond_by, decided_at, decided_by, workflow_id, account_check,"
        " on_timeout"
    )
    chosen = (
        "SELECT gen_random_uuid() AS id, a.id AS association_id, a.customer_id,"
        " timestamptz '2025-01-01' + g * interval '5 minutes' AS at, g"
        " FROM generate_series(1, %(n)s) g JOIN (SELECT id, customer_id, row_number() OVER"
        " (ORDER BY id) - 1 AS k FROM associations WHERE partner_id = %(p)s) a"
        " ON a.k = g %% (SELECT count(*) FROM associations WHERE partner_id = %(p)s)"
    )
    await conn.execute(
        f"INSERT INTO requests ({common_columns}) SELECT r.id, 'disassociation',"
        " r.association_id, %(p)s, r.customer_id, 'customer', 'customer_service:bench',"
        " 'rejected', 'bench', r.at, r.at + interval '30 days', r.at + interval '1 day',"
        " 'partner_user:bench', 'disassociation-' || r.id, '{\"passed\": true, \"items\": []}',"
        f" 'auto_agreed' FROM ({chosen}) r",
        {"n": each, "p": partner},
    )
    other = await common.value(
        conn, UUID, "SELECT id FROM partners WHERE id <> %s LIMIT 1", (partner,)
    )
    await conn.execute(
        f"INSERT INTO requests ({common_columns}, new_partner_id) SELECT r.id, 'partner_change',"
        " r.association_id, %(p)s, r.customer_id, 'customer', 'customer_service:bench',"
        " 'declined', 'bench', r.at, r.at + interval '30 days', r.at + interval '1 day',"
        " 'partner_user:bench', 'partner-change-' || r.id, '{\"passed\": true, \"items\": []}',"
        f" 'expired', %(o)s FROM ({chosen}) r",
        {"n": each, "p": partner, "o": other},
    )


async def _notifications(conn: psycopg.AsyncConnection[Any], partner: UUID, count: int) -> None:
    await conn.execute(
        "INSERT INTO notifications (recipient_kind, recipient_id, event_type, summary, payload,"
        " created_at, read_at, effect_key) SELECT 'partner', %s, 'disassociation.rejected',"
        " 'A disassociation request was rejected.', '{}',"
        " timestamptz '2025-01-01' + g * interval '1 minute',"
        " CASE WHEN g %% 3 = 0 THEN NULL ELSE timestamptz '2026-01-01' END, 'bench:' || g"
        " FROM generate_series(1, %s) g",
        (partner, count),
    )


def pairs(pages: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Each page, and the same query through the JSON API (None: the API has no such query;
    the page is then set beside its own SQL)."""
    late = httpx.QueryParams({"cursor": pages["late_cursor"]})
    request = pages["request_id"]
    return {
        "Customer Management, first page": (
            "/console/customers",
            f"/v1/associations?status=active&limit={PAGE}",
        ),
        "Customer Management, search by customer ID": (
            f"/console/customers?q={pages['customer_id']}",
            f"/v1/associations?status=active&customer_id={pages['customer_id']}&limit={PAGE}",
        ),
        "Customer Management, search by name": (
            f"/console/customers?{httpx.QueryParams({'q': pages['customer_name']})}",
            None,
        ),
        f"Customer Management, late page ({pages['late']:,} in)": (
            f"/console/customers?{late}",
            f"/v1/associations?status=active&limit={PAGE}&{late}",
        ),
        "records: associations": (
            "/console/records?tab=associations",
            f"/v1/association-records?kind=association&limit={PAGE}",
        ),
        "records: type changes": (
            "/console/records?tab=type_changes",
            f"/v1/association-records?kind=type_change&limit={PAGE}",
        ),
        "records: disassociations": (
            "/console/records?tab=disassociations",
            f"/v1/disassociations?limit={PAGE}",
        ),
        "records: partner changes": (
            "/console/records?tab=partner_changes",
            f"/v1/partner-changes?limit={PAGE}",
        ),
        "a request's page": (f"/console/requests/{request}", f"/v1/disassociations/{request}"),
        "message center": ("/console/messages", f"/v1/notifications?limit={PAGE}"),
    }


async def _timed(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await http.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    return elapsed


async def measure(
    api: str, database_url: str, data: dict[str, Any], pages: dict[str, Any], repeat: int
) -> dict[str, Any]:
    """p95 of each page and of its API query, interleaved so that a slow moment lands on both."""
    results: dict[str, Any] = {}
    bearer = {"Authorization": f"Bearer {data['token']}"}
    scope = Scope(partner_ids=(data["partner_id"],))
    async with (
        httpx.AsyncClient(base_url=api, timeout=60) as http,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
    ):
        for name, (page, query) in pairs(pages).items():
            page_times: list[float] = []
            other_times: list[float] = []
            # Once each unmeasured: a template's first rendering compiles it.
            await _timed(http, page, pages["cookie"])
            if query is not None:
                await _timed(http, query, bearer)
            for _ in range(repeat):
                page_times.append(await _timed(http, page, pages["cookie"]))
                if query is not None:
                    other_times.append(await _timed(http, query, bearer))
                else:
                    started = time.perf_counter()
                    await overview.associations(
                        conn, scope, search=pages["customer_name"], status="active",
                        limit=PAGE, cursor=None,
                    )  # fmt: skip
                    other_times.append(time.perf_counter() - started)
            page_ms, other_ms = common.summary_ms(page_times), common.summary_ms(other_times)
            results[name] = {
                "page": page,
                "against": query or "its SQL, bare (the API has no search)",
                "page_ms": page_ms,
                "against_ms": other_ms,
                "p95_ratio": round(page_ms["p95"] / other_ms["p95"], 2),
            }
    return results
