"""Association records exported as CSV (GET /v1/association-records with `Accept: text/csv`): one
reseller's whole history, at growing sizes, read to the end by an httpx client as fast as it
comes. What is measured is the API process (uvicorn, `python -m server`): its resident memory
(RSS, sampled every 20 ms from another thread) before and throughout each export, and the time
and CPU an export takes. RSS is what an operator sees and what the kernel kills for; it includes
the interpreter, the pool's connections and psycopg's buffers, not only the export's objects.
An export that held its rows would grow it by hundreds of bytes per record; a streamed one keeps
it flat, whatever the size."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import psycopg

from bench import common

# One record every 30 s of history, from here.
START = datetime(2020, 1, 1, tzinfo=UTC)
CUSTOMERS = 200
SIZES = (10_000, 100_000, 1_000_000)
SAMPLE_EVERY = 0.02
# The curve kept in the results: every fifth sample (the peak is taken from all of them).
KEEP_EVERY = 5


async def run(sizes: list[int]) -> dict[str, Any]:
    """A fresh stack; the records grow to each size in turn (fewest first) and are exported."""
    async with common.running_stack() as stack:
        population = await common.populate(stack.database_url, CUSTOMERS)
        api = psutil.Process(stack.procs["api"].pid)
        runs: list[dict[str, Any]] = []
        have = 0
        async with httpx.AsyncClient(base_url=stack.api, timeout=600) as http:
            for size in sorted(sizes):
                insert_seconds = await grow(stack.database_url, population, have, size)
                if not runs:  # a first export warms the API (imports, the pool, caches)
                    await _export(http, population.partner_token, api)
                have = size
                result = await _export(http, population.partner_token, api)
                runs.append({"records": size, "insert_seconds": insert_seconds, **result})
    return {"runs": runs, "customers": CUSTOMERS, "rss_sampled_every_seconds": SAMPLE_EVERY}


async def grow(database_url: str, population: common.Population, have: int, size: int) -> float:
    """Records `have + 1` to `size` of the reseller, set-based: every kind, a request's id on its
    steps, reasons with commas, quotes and a leading `=` now and then, a type change's before and
    after. Then ANALYZE. Returns the seconds the insert took."""
    associations = [(p.association_id, p.customer_id) for p in population.parties]
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO association_records (effect_key, kind, action, association_id,"
            " partner_id, customer_id, request_id, status, actor, reason, before, after,"
            " occurred_at)"
            " SELECT 'export:' || g, k.kind, k.action, a.association_id::uuid, %(partner)s,"
            " a.customer_id::uuid, CASE WHEN k.kind <> 'association' THEN gen_random_uuid() END,"
            " k.status, 'customer:' || a.customer_id,"
            " CASE g %% 3 WHEN 0 THEN 'Moved to a new reseller, says \"' || g || '\"'"
            " WHEN 1 THEN '=SUM(' || g || ')' END,"
            " CASE WHEN k.kind = 'type_change' THEN '{\"association_type\": \"resale\"}'::jsonb END,"
            " CASE WHEN k.kind = 'type_change' THEN '{\"association_type\": \"referral\"}'::jsonb END,"
            " %(start)s + g * interval '30 seconds'"
            " FROM generate_series(%(first)s::bigint, %(last)s::bigint) g"
            " JOIN unnest(%(associations)s::text[], %(customers)s::text[])"
            "   WITH ORDINALITY AS a (association_id, customer_id, n) ON a.n = 1 + g %% %(count)s"
            " JOIN (VALUES (0, 'association', 'created', 'active'),"
            "   (1, 'type_change', 'type_changed', 'active'),"
            "   (2, 'disassociation', 'requested', 'pending'),"
            "   (3, 'disassociation', 'agreed', 'agreed'),"
            "   (4, 'partner_change', 'declined', 'declined')) AS k (n, kind, action, status)"
            "   ON k.n = g %% 5",
            {
                "partner": population.partner_id,
                "start": START,
                "first": have + 1,
                "last": size,
                "associations": [a for a, _ in associations],
                "customers": [c for _, c in associations],
                "count": len(associations),
            },
        )
        await conn.execute("ANALYZE association_records")
    return round(time.perf_counter() - started, 1)


@dataclass
class _Sampler:
    """The process's RSS (MB) every SAMPLE_EVERY seconds, in a thread of its own: the event loop
    is busy reading the download."""

    process: psutil.Process
    samples: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stop.is_set():
            rss = self.process.memory_info().rss / 2**20
            self.samples.append((round(time.perf_counter() - started, 3), round(rss, 1)))
            self.stop.wait(SAMPLE_EVERY)


async def _export(http: httpx.AsyncClient, token: str, api: psutil.Process) -> dict[str, Any]:
    """One whole export, read to its end; the API's RSS throughout, its CPU, the time."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/csv"}
    before_mb = api.memory_info().rss / 2**20
    cpu = api.cpu_times()
    sampler = _Sampler(api)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    started = time.perf_counter()
    size, first_byte = 0, None
    async with http.stream("GET", "/v1/association-records", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_raw():
            first_byte = first_byte or time.perf_counter() - started
            size += len(chunk)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    thread.join()
    after = api.cpu_times()
    before_mb = round(before_mb, 1)
    peak_mb = max(before_mb, *(rss for _, rss in sampler.samples))
    return {
        "seconds": round(seconds, 2),
        "first_byte_ms": round((first_byte or seconds) * 1000, 1),
        "mb_sent": round(size / 2**20, 1),
        "api_cpu_seconds": round(after.user + after.system - cpu.user - cpu.system, 1),
        "api_rss_mb_before": before_mb,
        "api_rss_mb_peak": peak_mb,
        "api_rss_mb_growth": round(peak_mb - before_mb, 1),
        "api_rss_mb_after": round(api.memory_info().rss / 2**20, 1),
        "rss_mb_by_second": sampler.samples[::KEEP_EVERY],
    }
