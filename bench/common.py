"""What every benchmark needs: a fresh stack, demo-free data made in bulk, and statistics."""

from __future__ import annotations

import platform
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from uuid import UUID

import psutil
import psycopg
from psycopg.abc import Params, QueryNoTemplate

from devstack import services
from devstack.stack import Stack
from store import tokens
from store.db import Connection, fetch_all, fetch_value, migrate

T = TypeVar("T")


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean of latencies given in seconds, in milliseconds."""
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 50) * 1000, 2),
        "p95": round(percentile(samples, 95) * 1000, 2),
        "p99": round(percentile(samples, 99) * 1000, 2),
        "mean": round(statistics.fmean(samples) * 1000, 2) if samples else float("nan"),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory = psutil.virtual_memory().total / 2**30
    return f"{psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(a.get(k, 0) + b.get(k, 0), 2) for k in {*a, *b}}


def per(cpu_seconds: dict[str, float], count: int) -> dict[str, float]:
    """CPU milliseconds per unit of work, by process, with the total."""
    ms = {name: round(s * 1000 / count, 1) for name, s in sorted(cpu_seconds.items()) if s}
    return {**ms, "total": round(sum(ms.values()), 1)}


def stack_pids(stack: Stack) -> dict[str, int]:
    import os

    pids = {name: proc.pid for name, proc in stack.procs.items()}
    return {**pids, "postgres": stack.postgres_pid, "bench client": os.getpid()}


def rss_mb(pid: int) -> float:
    rss: int = psutil.Process(pid).memory_info().rss
    return rss / 2**20


class CpuMeter:
    """CPU seconds each process of the stack (with its children) uses between two readings."""

    def __init__(self, pids: dict[str, int]):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        seconds = {}
        for name, proc in self.procs.items():
            total = 0.0
            # The stack's processes are the bench client's children: count it alone.
            children = [] if name == "bench client" else proc.children(recursive=True)
            for p in [proc, *children]:
                try:
                    times = p.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            seconds[name] = total
        return seconds

    def used(self) -> dict[str, float]:
        now = self._read()
        return {name: round(now[name] - self.start[name], 1) for name in now}


@asynccontextmanager
async def running_stack(*, temporal_on_disk: bool = False, **settings: str) -> AsyncIterator[Stack]:
    """PostgreSQL, the Temporal dev server, worker.py and the API, fresh, in a temporary folder.

    Temporal's state is in memory unless `temporal_on_disk`: the benchmarks measure assocflow, not
    SQLite's fsync. But the dev server's in-memory SQLite holds every workflow in RAM (about
    120 KB each here): beyond some tens of thousands of open workflows it needs a file."""
    with tempfile.TemporaryDirectory(prefix="assocflow-bench-") as workdir:
        stack = Stack(
            Path(workdir),
            settings=settings,
            temporal_state_file=temporal_on_disk,
            temporal_state_durable=False,
        )
        stack.start_postgres()
        await migrate(stack.database_url)
        stack.start_temporal()
        stack.start("worker")
        stack.start("api")
        try:
            yield stack
        finally:
            stack.stop_all()
            # Before its folder goes: PostgreSQL would otherwise outlive its data directory.
            stack.stop_postgres()


@asynccontextmanager
async def baseline_worker(stack: Stack) -> AsyncIterator[str]:
    """The bare Temporal baseline's worker, a process of its own like assocflow's."""
    queue = f"baseline-{uuid.uuid4().hex[:8]}"
    proc = services.spawn_python(
        ["-m", "bench.baseline", stack.temporal_address, queue], stack.workdir / "baseline.log"
    )
    stack.procs["baseline"] = proc
    try:
        yield queue
    finally:
        stack.procs.pop("baseline", None)
        proc.terminate()
        proc.wait(10)


@asynccontextmanager
async def _served(stack: Stack, name: str, args: list[str]) -> AsyncIterator[str]:
    """`python -m bench.<name> <args> PORT` served by uvicorn in a process of its own like the
    API, counted among the stack's processes while it runs; yields its address."""
    port = services.free_port()
    proc = services.spawn_python(
        ["-m", f"bench.{name}", *args, str(port)], stack.workdir / f"{name}.log"
    )
    stack.procs[name] = proc
    try:
        address = f"http://127.0.0.1:{port}"
        services.wait_for_http(f"{address}/docs", timeout=60, process=proc)
        yield address
    finally:
        stack.procs.pop(name, None)
        proc.terminate()
        proc.wait(10)


@asynccontextmanager
async def floor_server(stack: Stack, partner_id: UUID) -> AsyncIterator[str]:
    """The framework floor (bench/floor.py) for `partner_id`'s records; yields its address."""
    async with _served(stack, "floor", [stack.database_url, str(partner_id)]) as address:
        yield address


@dataclass
class Party:
    association_id: str
    customer_id: str
    customer_token: str


@dataclass
class Population:
    partner_id: str
    partner_token: str
    parties: list[Party]


async def value(
    conn: Connection, kind: type[T], query: QueryNoTemplate, params: Params | None = None
) -> T:
    """The one value a query that always returns one (an INSERT ... RETURNING, a count) returns."""
    found = await fetch_value(conn, kind, query, params)
    assert found is not None, query
    return found


@dataclass(frozen=True)
class _NewAssociation:
    id: UUID
    customer_id: UUID


async def populate(database_url: str, size: int) -> Population:
    """One reseller with an admin, and `size` customers, each associated with it and holding a
    token: made with set-based SQL so that 10,000 take seconds."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        partner = await value(
            conn,
            UUID,
            "INSERT INTO partners (name, type) VALUES ('Bench Reseller', 'reseller') RETURNING id",
        )
        user = await value(
            conn,
            UUID,
            "INSERT INTO partner_users (partner_id, name, permissions) VALUES (%s, 'bench', '{admin}')"
            " RETURNING id",
            (partner,),
        )
        _, partner_token = await tokens.create(
            conn, subject_kind="partner_user", subject_id=str(user), created_by="bench"
        )
        rows = await fetch_all(
            conn,
            _NewAssociation,
            "WITH c AS (INSERT INTO customers (name) SELECT 'bench customer ' || g"
            " FROM generate_series(1, %s) g RETURNING id)"
            " INSERT INTO associations (partner_id, customer_id, association_type)"
            " SELECT %s, id, 'resale' FROM c RETURNING id, customer_id",
            (size, partner),
        )
        async with conn.cursor() as cur:
            plain = {row.customer_id: tokens.new_token() for row in rows}
            await cur.executemany(
                "INSERT INTO api_tokens (token_hash, subject_kind, subject_id, created_by)"
                " VALUES (%s, 'customer_service', %s, 'bench')",
                [(tokens.token_hash(t), str(c)) for c, t in plain.items()],
            )
        parties = [Party(str(row.id), str(row.customer_id), plain[row.customer_id]) for row in rows]
        await conn.commit()
    return Population(str(partner), partner_token, parties)


@asynccontextmanager
async def peer_server(stack: Stack) -> AsyncIterator[str]:
    """The peer (bench/peer.py: the same lifecycle on FastAPI and PostgreSQL alone) on the
    stack's database; yields its address."""
    async with _served(stack, "peer", [stack.database_url]) as address:
        yield address
