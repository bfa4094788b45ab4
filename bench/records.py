"""Millions of association records: each filter of GET /v1/association-records, first and deep
pages, through the API, through the framework floor (bench/floor.py: a minimal FastAPI endpoint
running the same SQL and rendering the same JSON) and as the same SQL run bare (the store
function the route calls)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg

from bench import common
from store import records, tokens
from store.db import fetch_one
from store.pagination import encode_cursor
from store.scope import Scope

BIG_PARTNER_CUSTOMERS = 50_000
OTHER_PARTNERS, OTHER_CUSTOMERS_EACH = 99, 10
START = datetime(2025, 1, 1, tzinfo=UTC)
DEEP_OFFSET = 50_000  # rows before the deep page (a third of the big partner's at most)


@dataclass(frozen=True)
class _Position:
    """Where a page ends: what a cursor names."""

    occurred_at: datetime
    id: UUID


async def fill(
    database_url: str, rows: int, big_customers: int = BIG_PARTNER_CUSTOMERS
) -> dict[str, Any]:
    """One big reseller (60 % of the records, `big_customers` customers, each with a name of its
    own, as customers' names are: not a common stem and a number) among 99 others; every kind and
    status; one record every 30 s of history. Set-based SQL, then ANALYZE."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        big = await common.value(conn, UUID,
            "INSERT INTO partners (name, type) VALUES ('Big Reseller', 'reseller') RETURNING id"
        )  # fmt: skip
        user = await common.value(conn, UUID,
            "INSERT INTO partner_users (partner_id, name, permissions) VALUES (%s, 'bench', '{admin}') RETURNING id",
            (big,),
        )  # fmt: skip
        _, token = await tokens.create(
            conn, subject_kind="partner_user", subject_id=str(user), created_by="bench"
        )
        await conn.execute(
            "INSERT INTO partners (name, type) SELECT 'Reseller ' || g, 'reseller' FROM generate_series(1, %s) g",
            (OTHER_PARTNERS,),
        )
        await conn.execute(
            "WITH c AS (INSERT INTO customers (name) SELECT 'customer ' || substr(md5(g::text), 1, 12) FROM generate_series(1, %s) g"
            " RETURNING id), numbered AS (SELECT id, row_number() OVER () AS n FROM c),"
            " partners_numbered AS (SELECT id, row_number() OVER (ORDER BY (id = %s) DESC, id) - 1 AS k FROM partners)"
            " INSERT INTO associations (partner_id, customer_id, association_type)"
            " SELECT p.id, numbered.id, 'resale' FROM numbered JOIN partners_numbered p"
            " ON p.k = CASE WHEN numbered.n <= %s THEN 0 ELSE 1 + (numbered.n - %s - 1) / %s END",
            (big_customers + OTHER_PARTNERS * OTHER_CUSTOMERS_EACH, big,
             big_customers, big_customers, OTHER_CUSTOMERS_EACH),
        )  # fmt: skip
        await conn.execute(
            "CREATE TEMP TABLE numbered_associations AS SELECT row_number() OVER"
            " (ORDER BY (partner_id = %s) DESC, id) - 1 AS n, id, partner_id, customer_id FROM associations",
            (big,),
        )
        await conn.execute("CREATE INDEX ON numbered_associations (n)")
        started = time.perf_counter()
        await conn.execute(
            "INSERT INTO association_records (effect_key, kind, action, association_id, partner_id,"
            " customer_id, status, actor, reason, occurred_at)"
            " SELECT 'bench:' || g,"
            " (ARRAY['association', 'type_change', 'disassociation', 'disassociation', 'disassociation'])[1 + g %% 5],"
            " 'bench', a.id, a.partner_id, a.customer_id,"
            " (ARRAY['pending', 'agreed', 'rejected', 'expired', 'withdrawn', 'auto_agreed'])[1 + (g / 7) %% 6],"
            " 'operator:bench', 'bench', %s + g * interval '30 seconds'"
            " FROM generate_series(1, %s) g JOIN numbered_associations a ON a.n ="
            " CASE WHEN g %% 10 < 6 THEN (g / 10) %% %s ELSE %s + (g / 10) %% %s END",
            (
                START,
                rows,
                big_customers,
                big_customers,
                OTHER_PARTNERS * OTHER_CUSTOMERS_EACH,
            ),
        )
        insert_seconds = time.perf_counter() - started
        await conn.execute("ANALYZE association_records")
        customer = await common.value(conn, UUID,
            "SELECT customer_id FROM associations WHERE partner_id = %s LIMIT 1", (big,)
        )  # fmt: skip
        big_rows = await common.value(conn, int,
            "SELECT count(*) AS n FROM association_records WHERE partner_id = %s", (big,)
        )  # fmt: skip
        deep_offset = min(DEEP_OFFSET, big_rows // 3)
        deep = await fetch_one(conn, _Position,
            "SELECT occurred_at, id FROM association_records WHERE partner_id = %s"
            " ORDER BY occurred_at DESC, id DESC OFFSET %s LIMIT 1", (big, deep_offset)
        )  # fmt: skip
        deep_kind = await fetch_one(conn, _Position,
            "SELECT occurred_at, id FROM association_records WHERE partner_id = %s AND kind = 'disassociation'"
            " ORDER BY occurred_at DESC, id DESC OFFSET %s LIMIT 1", (big, deep_offset)
        )  # fmt: skip
        assert deep is not None and deep_kind is not None
    return {
        "partner_id": big,
        "token": token,
        "user_id": user,
        "customer_id": customer,
        "big_partner_rows": big_rows,
        "insert_seconds": round(insert_seconds, 1),
        "deep_offset": deep_offset,
        "deep_cursor": encode_cursor(deep.occurred_at, deep.id),
        # A week from the middle of the history the records cover.
        "week_from": (START + timedelta(seconds=rows * 30 / 2)).isoformat(),
        "week_to": (START + timedelta(seconds=rows * 30 / 2, days=7)).isoformat(),
        "deep_kind_cursor": encode_cursor(deep_kind.occurred_at, deep_kind.id),
    }


def queries(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each filter of the SPEC, as API query parameters."""
    return {
        "first page": {},
        "kind=disassociation": {"kind": "disassociation"},
        "status=agreed": {"status": "agreed"},
        "kind=disassociation&status=agreed": {"kind": "disassociation", "status": "agreed"},
        "customer_id": {"customer_id": str(data["customer_id"])},
        "from/to one week": {"from": data["week_from"], "to": data["week_to"]},
        f"deep page ({data['deep_offset']:,} rows in)": {"cursor": data["deep_cursor"]},
        "deep page, kind=disassociation": {
            "kind": "disassociation",
            "cursor": data["deep_kind_cursor"],
        },
    }


def store_arguments(params: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": params.get("kind"),
        "customer_id": UUID(params["customer_id"]) if "customer_id" in params else None,
        "status": params.get("status"),
        "from_": datetime.fromisoformat(params["from"]) if "from" in params else None,
        "to": datetime.fromisoformat(params["to"]) if "to" in params else None,
        "cursor": params.get("cursor"),
    }


async def _get(http: httpx.AsyncClient, params: dict[str, Any], headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await http.get("/v1/association-records", params=params, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and len(response.json()["items"]) == params["limit"], (
        f"{params}: {response.text[:300]}"
    )
    return elapsed


async def measure(
    api: str, floor: str, database_url: str, data: dict[str, Any], repeat: int, limit: int
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    scope = Scope(partner_ids=(data["partner_id"],))
    async with (
        httpx.AsyncClient(base_url=api, timeout=30) as http,
        httpx.AsyncClient(base_url=floor, timeout=30) as bare_http,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
    ):
        headers = {"Authorization": f"Bearer {data['token']}"}
        for name, params in queries(data).items():
            api_times, floor_times, sql_times = [], [], []
            for _ in range(repeat):
                # Interleaved, so that a slow moment of the machine lands on all three.
                api_times.append(await _get(http, {**params, "limit": limit}, headers))
                floor_times.append(await _get(bare_http, {**params, "limit": limit}, {}))
                started = time.perf_counter()
                rows, _ = await records.list_records(
                    conn, scope, limit=limit, **store_arguments(params)
                )
                sql_times.append(time.perf_counter() - started)
                assert len(rows) == limit
            api_ms, floor_ms = common.summary_ms(api_times), common.summary_ms(floor_times)
            sql_ms = common.summary_ms(sql_times)
            results[name] = {
                "p95_ratio_to_floor": round(api_ms["p95"] / floor_ms["p95"], 2),
                "p95_ratio_to_sql": round(api_ms["p95"] / sql_ms["p95"], 2),
                "api_ms": api_ms,
                "floor_ms": floor_ms,
                "sql_ms": sql_ms,
            }
    return results
