"""What it costs that a pool never hands out a connection PostgreSQL closed (store/db.py `Pool`).

Each way of taking a connection is timed on the same PostgreSQL, in alternating rounds: with no
check (psycopg_pool's default: a connection a restart closed fails its next statement), with
assocflow's check (a poll of the socket; a round trip only when something is waiting on it), and
with psycopg_pool's `check=check_connection` (a round trip every time); and each is asked for a
connection right after a restart closed all of its own. Then the app itself is
run in-process on a pool that counts, to give how many connections a request takes, so the
check's cost per request is its cost per checkout times that.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from assocflow.settings import Settings
from devstack import services
from server.app import create_app
from store import accounts, associations, tokens
from store.db import Pool, migrate, still_open

OPERATOR_TOKEN = "bench-operator-token"  # noqa: S105 (a local benchmark's)


class _Counting(Pool):
    checkouts = 0

    async def getconn(self, timeout: float | None = None) -> AsyncConnection[Any]:  # noqa: ASYNC109
        type(self).checkouts += 1
        return await super().getconn(timeout)


def _pools(url: str) -> dict[str, AsyncConnectionPool[Any]]:
    options: dict[str, Any] = {
        "min_size": 5, "max_size": 5, "kwargs": {"autocommit": True}, "open": False,
    }  # fmt: skip
    return {
        "no check": AsyncConnectionPool(url, **options),
        "assocflow (socket poll)": Pool(url, **options),
        "psycopg_pool check= (round trip)": AsyncConnectionPool(
            url, check=AsyncConnectionPool.check_connection, **options
        ),
    }


async def _checkout_costs(url: str, checkouts: int, rounds: int) -> dict[str, float]:
    """Median µs of one checkout with a `SELECT 1` on it, per way of checking."""
    pools = _pools(url)
    samples: dict[str, list[float]] = {name: [] for name in pools}
    for pool in pools.values():
        await pool.open(wait=True)
    try:
        for _ in range(rounds):
            for name, pool in pools.items():
                started = time.perf_counter()
                for _ in range(checkouts):
                    async with pool.connection() as conn:
                        await conn.execute("SELECT 1")
                samples[name].append((time.perf_counter() - started) / checkouts * 1e6)
    finally:
        for pool in pools.values():
            await pool.close()
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


async def _check_alone(url: str, calls: int, rounds: int) -> dict[str, float]:
    """Median µs of the check by itself, on an idle connection."""
    samples: dict[str, list[float]] = {"assocflow (socket poll)": [], "round trip": []}
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                await still_open(conn)
            samples["assocflow (socket poll)"].append((time.perf_counter() - started) / calls * 1e6)
            started = time.perf_counter()
            for _ in range(calls):
                await AsyncConnectionPool.check_connection(conn)
            samples["round trip"].append((time.perf_counter() - started) / calls * 1e6)
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


async def _first_after_restart(server: Any, url: str) -> dict[str, str]:
    """Per way of checking: what the first request after a restart got, and how soon, from a
    pool of five connections that the restart closed (its checkout timeout 10 s)."""
    found = {}
    for name, pool in _pools(url).items():
        pool.timeout = 10.0
        await pool.open(wait=True)
        try:
            services.restart_postgres(server, "fast")
            started = time.perf_counter()
            try:
                async with pool.connection() as conn:
                    await conn.execute("SELECT 1")
                outcome = "served"
            except Exception as error:  # what a caller would have been answered
                outcome = type(error).__name__
            found[name] = f"{outcome} after {(time.perf_counter() - started) * 1000:.0f} ms"
        finally:
            await pool.close()
    return found


async def _seed(url: str) -> str:
    """A partner with a few customers; returns a token of its admin's."""
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        partner = await accounts.create_partner(
            conn, {"name": "bench", "type": "reseller", "parent_partner_id": None, "frozen": False}
        )
        user = await accounts.create_partner_user(conn, partner.id, "admin", ["admin"])
        _, token = await tokens.create(
            conn, subject_kind="partner_user", subject_id=str(user.id), created_by="operator:bench"
        )
        for n in range(5):
            customer = await accounts.create_customer(conn, f"customer {n}")
            await associations.create(conn, partner.id, customer.id, "resale", "operator:bench")
    return token


async def _checkouts_per_request(url: str) -> dict[str, int]:
    partner_token = await _seed(url)
    settings = Settings(
        database_url=url, operator_token=OPERATOR_TOKEN, temporal_address="127.0.0.1:1"
    )
    pool = _Counting(url, min_size=2, max_size=4, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    app = create_app(settings, pool=pool)
    partner = {"Authorization": f"Bearer {partner_token}"}
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    calls: dict[str, tuple[str, str, dict[str, str], Any]] = {
        "GET /v1/associations (a partner's list)": ("GET", "/v1/associations", partner, None),
        "GET /v1/disassociations (a partner's list)": ("GET", "/v1/disassociations", partner, None),
        "POST /v1/admin/customers (Idempotency-Key)": (
            "POST",
            "/v1/admin/customers",
            {**operator, "Idempotency-Key": str(uuid.uuid4())},
            {"name": "Bench customer"},
        ),
    }
    counted: dict[str, int] = {}
    try:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
            )
            for name, (method, path, headers, body) in calls.items():
                await http.request(method, path, headers=headers, json=body)  # warm
                if body is not None:
                    headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
                before = _Counting.checkouts
                response = await http.request(method, path, headers=headers, json=body)
                response.raise_for_status()
                counted[name] = _Counting.checkouts - before
    finally:
        await pool.close()
    return counted


async def run(checkouts: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="assocflow-bench-") as workdir:
        server = services.embedded_postgres(Path(workdir) / "postgres", keep=False)
        try:
            url = services.ensure_database(server.get_uri(), "assocflow")
            await migrate(url)
            first = await _first_after_restart(server, url)
            costs = await _checkout_costs(url, checkouts, rounds)
            alone = await _check_alone(url, checkouts, rounds)
            per_request = await _checkouts_per_request(url)
        finally:
            services.pg_ctl(server, "-w", "stop", "-m", "fast")
    plain = costs["no check"]
    check_us = {name: round(us - plain, 1) for name, us in costs.items() if name != "no check"}
    return {
        "checkouts_per_round": checkouts,
        "rounds": rounds,
        "first_request_after_a_restart": first,
        "us_per_checkout_with_select_1": costs,
        "check_us_per_checkout": check_us,
        "check_alone_us": alone,
        "checkouts_per_request": per_request,
        "check_alone_us_per_request": {
            request: {name: round(n * us, 1) for name, us in alone.items()}
            for request, n in per_request.items()
        },
    }
