"""assocflow's benchmarks, each on a fresh stack of real processes on this machine.

python -m bench lifecycle --lifecycles 1000 --rounds 5 --rate 5 --rate 10 --seconds 30
python -m bench pending --requests 10000 --requests 100000
python -m bench records --rows 10000000   (then the console's pages at that scale)
python -m bench pool-check   (what checking pooled connections costs per checkout and per request)
python -m bench routing   (how long finding an address's route takes, console pages found first and not)
python -m bench export --records 10000 --records 100000 --records 1000000   (CSV, the API's memory)
python -m bench peer --lifecycles 1000 --rate 5 --rate 20   (beside plain FastAPI + PostgreSQL)
python -m bench profile --lifecycles 300   (where a lifecycle's CPU goes: py-spy, the history)
python -m bench all   (make bench: every one, the charts in docs/performance/, the targets)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

from assocflow.process import run_command, run_main
from assocflow.settings import Settings
from assocflow.temporal import connect
from bench import charts, common, export, pages, pending, pool_check, records, routing
from bench import profile as profiling
from bench.lifecycle import Assocflow, Baseline, Latencies, Lifecycle, closed_loop, open_loop
from domain.types import RequestKind, workflow_id_for

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.callback()
def main() -> None:
    """assocflow's benchmarks."""


RESULTS = Path(__file__).resolve().parent.parent / "build" / "bench"


def report(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": common.machine(),
        **result,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    typer.echo(json.dumps(result, indent=2))


# The last two are one and a half and two times what this two-core machine carries (24-36
# lifecycles/s as its speed moves): admission control sheds there.
RATES = (5.0, 10.0, 20.0, 40.0, 54.0, 73.0)


def shed(latency: Latencies) -> dict[str, Any]:
    """What admission control refused at one rate: the share of submits refused, how fast a
    refusal came, the decisions sent again, and the slowest answer of all (served or refused)."""
    arrived = len(latency.submit) + len(latency.refused_submit)
    answers = latency.submit + latency.refused_submit + latency.decide + latency.refused_decide
    return {
        "submits_refused_share": round(len(latency.refused_submit) / arrived, 3) if arrived else 0,
        "refused_ms": common.summary_ms(latency.refused_submit + latency.refused_decide),
        "decisions_sent_again": len(latency.refused_decide),
        "slowest_answer_ms": round(max(answers) * 1000, 1) if answers else 0,
    }


async def _lifecycle(
    lifecycles: int,
    concurrency: int,
    rates: tuple[float, ...],
    seconds: float,
    warmup: int,
    rounds: int,
) -> dict[str, Any]:
    # A reminder timer would be one more timer than the baselines have: off, for the same shape.
    async with (
        common.running_stack(reminder_before="PT0S") as stack,
        common.baseline_worker(stack) as queue,
    ):
        arrivals = [int(rate * seconds) for rate in rates]
        population = await common.populate(stack.database_url, warmup + lifecycles + sum(arrivals))
        client = await connect(Settings(temporal_address=stack.temporal_address))
        assocflow = Assocflow(stack.api, population, concurrency)
        systems: dict[str, Lifecycle] = {
            "assocflow": assocflow.lifecycle,
            "bare Temporal": Baseline(client, queue).lifecycle,
            "bare Temporal, local": Baseline(client, queue, local=True).lifecycle,
        }
        parties = population.parties
        warm, throughput_parties, latency_parties = (
            parties[:warmup], parties[warmup : warmup + lifecycles], parties[warmup + lifecycles :],
        )  # fmt: skip
        for run in systems.values():
            await closed_loop(run, warm, concurrency)
        # Rounds that alternate the systems, so that a slow moment of the machine does not land
        # on one of them only; the median round counts.
        rates_of: dict[str, list[float]] = {name: [] for name in systems}
        cpu_of: dict[str, dict[str, float]] = {name: {} for name in systems}
        per_round = len(throughput_parties) // rounds
        for r in range(rounds):
            batch = throughput_parties[r * per_round : (r + 1) * per_round]
            for name, run in systems.items():
                meter = common.CpuMeter(common.stack_pids(stack))
                rates_of[name].append((await closed_loop(run, batch, concurrency))[0])
                cpu_of[name] = common.add(cpu_of[name], meter.used())
        sweep: dict[str, dict[str, Any]] = {name: {} for name in systems}
        for rate, count in zip(rates, arrivals, strict=True):
            batch, latency_parties = latency_parties[:count], latency_parties[count:]
            for name, run in systems.items():
                latency = await open_loop(run, batch, rate)
                sweep[name][str(rate)] = {
                    "submit_ms": common.summary_ms(latency.submit),
                    "decide_ms": common.summary_ms(latency.decide),
                    **shed(latency),
                }
        await assocflow.aclose()
    throughput = {name: statistics.median(r) for name, r in rates_of.items()}
    ours, bare, bare_local = (
        throughput["assocflow"],
        throughput["bare Temporal"],
        throughput["bare Temporal, local"],
    )
    at_first_rate = sweep["assocflow"][str(rates[0])]
    charts.latency_by_rate(sweep, charts.CHARTS / "latency-by-rate.png")
    return {
        "throughput_ratio_to_bare": round(ours / bare, 3),
        "throughput_ratio_to_bare_local": round(ours / bare_local, 3),
        "lifecycles_per_second": {name: round(v, 1) for name, v in throughput.items()},
        "round_ratios_to_bare": [
            round(o / b, 3)
            for o, b in zip(rates_of["assocflow"], rates_of["bare Temporal"], strict=True)
        ],
        "cpu_ms_per_lifecycle": {name: common.per(cpu, lifecycles) for name, cpu in cpu_of.items()},
        f"submit_ms_at_{rates[0]:g}_per_second": at_first_rate["submit_ms"],
        f"decide_ms_at_{rates[0]:g}_per_second": at_first_rate["decide_ms"],
        "latency_by_rate": sweep,
        "lifecycles": lifecycles,
        "concurrency": concurrency,
        "open_loop_seconds_per_rate": seconds,
    }


@app.command()
def lifecycle(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles for the throughput run.")] = 1000,
    concurrency: Annotated[int, typer.Option(help="Lifecycles in flight (closed loop).")] = 10,
    rate: Annotated[
        list[float] | None, typer.Option(help="Arrivals per second (open loop); repeatable.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of each open-loop run.")] = 30.0,
    warmup: Annotated[int, typer.Option(help="Lifecycles run first and not counted.")] = 40,
    rounds: Annotated[int, typer.Option(help="Alternating rounds of each (median counts).")] = 5,
) -> None:
    """Throughput and latency of full lifecycles, and of the bare Temporal baselines."""
    rates = tuple(rate or RATES)
    result = run_command(_lifecycle(lifecycles, concurrency, rates, seconds, warmup, rounds))
    report("lifecycle", result)


async def _profile(lifecycles: int, concurrency: int) -> dict[str, Any]:
    """Lifecycles in a closed loop with py-spy on the worker and the API; then bare Temporal's
    (local activities) for the server's share; and one lifecycle's history of each."""
    warmup = 40
    async with (
        common.running_stack(reminder_before="PT0S") as stack,
        common.baseline_worker(stack) as queue,
    ):
        population = await common.populate(stack.database_url, warmup + lifecycles)
        client = await connect(Settings(temporal_address=stack.temporal_address))
        ours = Assocflow(stack.api, population, concurrency)
        bare = Baseline(client, queue, local=True)
        await closed_loop(ours.lifecycle, population.parties[:warmup], concurrency)
        await closed_loop(bare.lifecycle, population.parties[:warmup], concurrency)
        sampled = {"worker": stack.procs["worker"].pid, "API": stack.procs["api"].pid}
        with profiling.sampled(sampled, RESULTS / "profile") as paths:
            meter = common.CpuMeter(common.stack_pids(stack))
            await closed_loop(ours.lifecycle, population.parties[warmup:], concurrency)
            cpu = common.per(meter.used(), lifecycles)
        meter = common.CpuMeter(common.stack_pids(stack))
        await closed_loop(bare.lifecycle, population.parties[warmup:], concurrency)
        bare_cpu = common.per(meter.used(), lifecycles)
        ours_history = await profiling.history_of(client, await _a_request_workflow(stack))
        bare_history = await profiling.history_of(client, bare.last_workflow_id)
        await ours.aclose()
    processes = {"worker": "worker", "API": "api"}
    return {
        "lifecycles": lifecycles,
        "cpu_ms_per_lifecycle": cpu,
        "bare_local_cpu_ms_per_lifecycle": bare_cpu,
        "processes": {
            name: profiling.breakdown(
                profiling.strip_threads(profiling.read_samples(path)), cpu[processes[name]]
            )
            for name, path in paths.items()
        },
        "history": ours_history,
        "bare_local_history": bare_history,
    }


async def _a_request_workflow(stack: Any) -> str:
    """The workflow id of one agreed request of the run."""
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        row = await (
            await conn.execute("SELECT id FROM requests WHERE status = 'agreed' LIMIT 1")
        ).fetchone()
    assert row is not None
    return workflow_id_for(RequestKind.DISASSOCIATION, row[0])


@app.command("profile")
def profile_command(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles sampled.")] = 300,
    concurrency: Annotated[int, typer.Option(help="Lifecycles in flight (closed loop).")] = 10,
    again: Annotated[
        bool, typer.Option(help="Attribute the last run's samples again (after changing STEPS).")
    ] = False,
) -> None:
    """Where a lifecycle's CPU goes: py-spy on the worker and the API (by step and by package),
    the Temporal server's history events, beside bare Temporal with local activities."""
    if again:
        last = _result("profile")
        if last is None:
            raise typer.BadParameter("no profile in build/bench/ to attribute again")
        for name, found in last["processes"].items():
            samples = profiling.read_samples(RESULTS / "profile" / f"{name}.txt")
            last["processes"][name] = profiling.breakdown(
                profiling.strip_threads(samples), found["cpu_ms"]
            )
        (RESULTS / "profile.json").write_text(json.dumps(last, indent=2))
        return
    report("profile", run_command(_profile(lifecycles, concurrency)))


async def _peer(
    lifecycles: int, concurrency: int, rates: tuple[float, ...], seconds: float, rounds: int
) -> dict[str, Any]:
    """assocflow beside the peer a user would pick instead (bench/peer.py), on one stack: rounds
    that alternate the two, then open-loop arrivals at each rate; each with its own customers."""
    warmup = 40
    async with (
        common.running_stack(reminder_before="PT0S") as stack,
        common.peer_server(stack) as peer_url,
    ):
        arrivals = [int(rate * seconds) for rate in rates]
        size = warmup + lifecycles + sum(arrivals)
        ours_population = await common.populate(stack.database_url, size)
        peer_population = await common.populate(stack.database_url, size)
        ours = Assocflow(stack.api, ours_population, concurrency)
        peer = Assocflow(peer_url, peer_population, concurrency)
        # Each system's CPU: its own processes, PostgreSQL and the load generator's.
        pids = common.stack_pids(stack)
        shared = ("postgres", "bench client")
        systems = {
            "assocflow": (ours, {k: v for k, v in pids.items() if k != "peer"}),
            "peer": (peer, {k: pids[k] for k in ("peer", *shared)}),
        }
        parties = {
            "assocflow": list(ours_population.parties),
            "peer": list(peer_population.parties),
        }
        for name, (system, _) in systems.items():
            await closed_loop(system.lifecycle, parties[name][:warmup], concurrency)
            parties[name] = parties[name][warmup:]
        rates_of: dict[str, list[float]] = {name: [] for name in systems}
        cpu_of: dict[str, dict[str, float]] = {name: {} for name in systems}
        per_round = lifecycles // rounds
        for _ in range(rounds):
            for name, (system, its_pids) in systems.items():
                batch, parties[name] = parties[name][:per_round], parties[name][per_round:]
                meter = common.CpuMeter(its_pids)
                rates_of[name].append((await closed_loop(system.lifecycle, batch, concurrency))[0])
                cpu_of[name] = common.add(cpu_of[name], meter.used())
        sweep: dict[str, dict[str, Any]] = {name: {} for name in systems}
        for rate, count in zip(rates, arrivals, strict=True):
            for name, (system, _) in systems.items():
                batch, parties[name] = parties[name][:count], parties[name][count:]
                latency = await open_loop(system.lifecycle, batch, rate)
                sweep[name][str(rate)] = {
                    "submit_ms": common.summary_ms(latency.submit),
                    "decide_ms": common.summary_ms(latency.decide),
                    **shed(latency),
                }
        await ours.aclose()
        await peer.aclose()
    return {
        "lifecycles_per_second": {n: round(statistics.median(r), 1) for n, r in rates_of.items()},
        "round_rates": {n: [round(x, 1) for x in r] for n, r in rates_of.items()},
        "cpu_ms_per_lifecycle": {name: common.per(cpu, lifecycles) for name, cpu in cpu_of.items()},
        "latency_by_rate": sweep,
        "lifecycles": lifecycles,
        "concurrency": concurrency,
        "open_loop_seconds_per_rate": seconds,
    }


@app.command()
def peer(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles for the throughput run.")] = 1000,
    concurrency: Annotated[int, typer.Option(help="Lifecycles in flight (closed loop).")] = 10,
    rate: Annotated[
        list[float] | None, typer.Option(help="Arrivals per second (open loop); repeatable.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of each open-loop run.")] = 20.0,
    rounds: Annotated[int, typer.Option(help="Alternating rounds of each (median counts).")] = 5,
) -> None:
    """assocflow beside a plain FastAPI + PostgreSQL implementation of the same lifecycle."""
    rates = tuple(rate or (5.0, 20.0))
    report("peer", run_command(_peer(lifecycles, concurrency, rates, seconds, rounds)))


# Above this many, the dev server keeps its state in a file (common.running_stack).
IN_MEMORY_UP_TO = 20_000


async def _pending(requests: int, idle: float, concurrency: int) -> dict[str, Any]:
    on_disk = requests > IN_MEMORY_UP_TO
    async with common.running_stack(temporal_on_disk=on_disk, reminder_before="PT0S") as stack:
        population = await common.populate(stack.database_url, requests)
        client = await connect(Settings(temporal_address=stack.temporal_address))
        worker = stack.procs["worker"].pid
        idle_worker_mb = common.rss_mb(worker)
        samples: list[tuple[int, float]] = []
        meter = common.CpuMeter(common.stack_pids(stack))
        seconds = await pending.hold(stack, client, population, concurrency, samples)
        cpu = common.per(meter.used(), requests)
        holding_mb = common.rss_mb(worker)
        await asyncio.sleep(idle)
        after_idle_mb = common.rss_mb(worker)
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            order = "SELECT id::text FROM requests WHERE status = 'pending' ORDER BY submitted_at {} LIMIT 5"
            oldest = [r[0] for r in await (await conn.execute(order.format("ASC"))).fetchall()]
            newest = [r[0] for r in await (await conn.execute(order.format("DESC"))).fetchall()]
        long_idle = [await pending.decide_on(stack.api, population, r) for r in oldest]
        recent = [await pending.decide_on(stack.api, population, r) for r in newest]
        final_mb = common.rss_mb(worker)
    result = {
        "pending_requests": requests,
        "temporal_state": "file" if on_disk else "memory",
        "seconds_to_hold_all": round(seconds, 1),
        "starts_per_second": round(requests / seconds, 1),
        "cpu_ms_per_start": cpu,
        "worker_rss_mb_holding": round(holding_mb, 1),
        "worker_rss_mb_idle_before": round(idle_worker_mb, 1),
        "worker_rss_mb_after_idle": round(after_idle_mb, 1),
        "worker_rss_mb_after_decisions": round(final_mb, 1),
        "idle_seconds_before_deciding": idle,
        "decision_ms_long_idle": common.summary_ms(long_idle),
        "decision_ms_recent": common.summary_ms(recent),
        "rss_mb_by_pending": samples,
    }
    if not on_disk:
        result["bare_local"] = await _pending_bare(requests, concurrency)
    return result


async def _pending_bare(requests: int, concurrency: int) -> dict[str, Any]:
    """The same number started on bare Temporal (local activities), on a fresh server: the
    ceiling this machine puts on starting."""
    async with common.running_stack() as stack, common.baseline_worker(stack) as queue:
        client = await connect(Settings(temporal_address=stack.temporal_address))
        meter = common.CpuMeter(common.stack_pids(stack))
        seconds = await pending.hold_bare(client, queue, requests, concurrency)
        cpu = common.per(meter.used(), requests)
    return {
        "seconds_to_hold_all": round(seconds, 1),
        "starts_per_second": round(requests / seconds, 1),
        "cpu_ms_per_start": cpu,
    }


def _memory_chart(results: list[dict[str, Any]]) -> None:
    charts.memory_by_pending(
        {f"{r['pending_requests']:,} requests": r["rss_mb_by_pending"] for r in results},
        charts.CHARTS / "memory-by-pending.png",
    )


@app.command("pending")
def pending_command(
    requests: Annotated[
        list[int] | None, typer.Option(help="Pending requests to hold; repeatable, a run each.")
    ] = None,
    idle: Annotated[float, typer.Option(help="Seconds they all wait before a decision.")] = 60.0,
    concurrency: Annotated[int, typer.Option(help="Starts in flight while filling.")] = 50,
) -> None:
    """Worker memory with many pending requests, and a decision on a long-idle one."""
    results = [run_command(_pending(n, idle, concurrency)) for n in requests or [10_000]]
    _memory_chart(results)
    report("pending", {"runs": results})


async def _records(
    rows: int, repeat: int, limit: int, customers: int = records.BIG_PARTNER_CUSTOMERS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The records API against its floor, then the console's pages against the API, on one
    fill of `rows` records."""
    async with common.running_stack() as stack:
        data = await records.fill(stack.database_url, rows, customers)
        async with common.floor_server(stack, data["partner_id"]) as floor:
            results = await records.measure(
                stack.api, floor, stack.database_url, data, repeat, limit
            )
        named = await pages.fill(stack.database_url, data)
        screens = await pages.measure(stack.api, stack.database_url, data, named, repeat)
    return _records_result(rows, repeat, limit, data, results), {
        "worst_p95_ratio": max(r["p95_ratio"] for r in screens.values()),
        "target_p95_ratio": 1.3,
        "records": rows,
        "customers": customers,
        "repeat": repeat,
        "pages": screens,
    }


def _records_result(
    rows: int, repeat: int, limit: int, data: dict[str, Any], results: dict[str, Any]
) -> dict[str, Any]:
    return {
        "worst_p95_ratio_to_floor": max(r["p95_ratio_to_floor"] for r in results.values()),
        "worst_p95_ratio_to_sql": max(r["p95_ratio_to_sql"] for r in results.values()),
        "target_p95_ratio_to_floor": 1.3,
        "rows": rows,
        "big_partner_rows": data["big_partner_rows"],
        "insert_seconds": data["insert_seconds"],
        "page_size": limit,
        "repeat": repeat,
        "queries": results,
    }


@app.command("pool-check")
def pool_check_command(
    checkouts: Annotated[int, typer.Option(help="Checkouts timed per way and round.")] = 20_000,
    rounds: Annotated[int, typer.Option(help="Alternating rounds (the median is kept).")] = 5,
) -> None:
    """The cost of never handing out a connection PostgreSQL closed, per checkout and per
    request, beside no check and psycopg_pool's round-trip check."""
    result = run_command(pool_check.run(checkouts, rounds))
    report("pool-check", result)
    charts.pool_check(result, charts.CHARTS / "pool-check.png")


@app.command("routing")
def routing_command(
    repeat: Annotated[int, typer.Option(help="Searches timed per address and round.")] = 2_000,
    rounds: Annotated[int, typer.Option(help="Alternating rounds (the median is kept).")] = 5,
) -> None:
    """How long the app takes to find an address's route, console pages found first and not."""
    report("routing", routing.run(repeat, rounds))


@app.command("export")
def export_command(
    records: Annotated[
        list[int] | None,
        typer.Option(help="Records to export; repeatable, a run each as the table grows."),
    ] = None,
) -> None:
    """A reseller's records as one CSV download (`Accept: text/csv`) at each size: the time, and
    the API process's memory throughout."""
    result = run_command(export.run(records or list(export.SIZES)))
    report("export", result)
    charts.memory_by_export(result["runs"], charts.CHARTS / "memory-by-export.png")


@app.command("charts")
def charts_command() -> None:
    """Draw the charts again from the results in build/bench/ (pending*.json: the newest run of
    each size)."""
    runs = _pending_runs()
    if runs:
        _memory_chart(runs)
    if life := _result("lifecycle"):
        charts.latency_by_rate(life["latency_by_rate"], charts.CHARTS / "latency-by-rate.png")
    if checks := _result("pool-check"):
        charts.pool_check(checks, charts.CHARTS / "pool-check.png")
    if exports := _result("export"):
        charts.memory_by_export(exports["runs"], charts.CHARTS / "memory-by-export.png")
    _round_charts()


def _result(name: str) -> dict[str, Any] | None:
    """The last result of benchmark `name` in build/bench/, if it ran."""
    path = RESULTS / f"{name}.json"
    found: dict[str, Any] | None = json.loads(path.read_text()) if path.exists() else None
    return found


def _round_charts() -> None:
    """The charts of this round's figures: CPU by process and by step, the pages."""
    life, peered = _result("lifecycle"), _result("peer")
    if life and peered:
        cpu = life["cpu_ms_per_lifecycle"]
        charts.cpu_by_process(
            {
                **{name: cpu[name] for name in ("assocflow", LOCAL)},
                "peer (FastAPI + PostgreSQL)": peered["cpu_ms_per_lifecycle"]["peer"],
            },
            charts.CHARTS / "cpu-by-process.png",
        )
    if profiled := _result("profile"):
        charts.cpu_by_step(profiled["processes"], charts.CHARTS / "cpu-by-step.png")
    if screens := _result("pages"):
        charts.pages_against_api(screens, charts.CHARTS / "pages.png")


def _pending_runs() -> list[dict[str, Any]]:
    """The newest run of each size in build/bench/pending*.json (a long run, such as 100,000
    requests, may be kept in a file of its own), fewest requests first."""
    newest: dict[int, tuple[str, dict[str, Any]]] = {}
    for path in RESULTS.glob("pending*.json"):
        result = json.loads(path.read_text())
        for run in result.get("runs", []):
            size = run["pending_requests"]
            if size not in newest or result["at"] > newest[size][0]:
                newest[size] = (result["at"], run)
    return [run for _, (_, run) in sorted(newest.items())]


@app.command("table")
def table_command() -> None:
    """The targets table from the results in build/bench/ (each benchmark run on its own)."""
    life, rec = _result("lifecycle"), _result("records")
    if life is None or rec is None:
        raise typer.BadParameter("run `bench lifecycle` and `bench records` first")
    typer.echo(table(life, _pending_runs(), rec, _result("pages")))


@app.command("records")
def records_command(
    rows: Annotated[int, typer.Option(help="Association records to create.")] = 10_000_000,
    repeat: Annotated[int, typer.Option(help="Calls per query.")] = 200,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    customers: Annotated[
        int, typer.Option(help="The big partner's customers.")
    ] = records.BIG_PARTNER_CUSTOMERS,
) -> None:
    """GET /v1/association-records at scale, against the framework floor and the bare SQL; then
    the console's pages at that scale, against the same queries through the JSON API."""
    rec, screens = run_command(_records(rows, repeat, limit, customers))
    report("records", rec)
    report("pages", screens)


@app.command("all")
def all_benchmarks(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles for the throughput run.")] = 1000,
    concurrency: Annotated[int, typer.Option(help="Lifecycles in flight (closed loop).")] = 10,
    seconds: Annotated[float, typer.Option(help="Length of each open-loop run.")] = 30.0,
    pending_requests: Annotated[
        list[int] | None, typer.Option(help="Pending requests to hold; repeatable.")
    ] = None,
    idle: Annotated[float, typer.Option(help="Seconds they wait before a decision.")] = 60.0,
    records_rows: Annotated[int, typer.Option(help="Association records to create.")] = 10_000_000,
) -> None:
    """Every benchmark, its charts, then the targets in one table."""
    life = run_command(_lifecycle(lifecycles, concurrency, RATES, seconds, 40, 5))
    report("lifecycle", life)
    pend = [run_command(_pending(n, idle, 50)) for n in pending_requests or [10_000, 100_000]]
    report("pending", {"runs": pend})
    newest = _pending_runs()  # this run's sizes, and any kept in files of their own
    _memory_chart(newest)
    rec, screens = run_command(_records(records_rows, 200, 50))
    report("records", rec)
    report("pages", screens)
    checks = run_command(pool_check.run(20_000, 5))
    report("pool-check", checks)
    charts.pool_check(checks, charts.CHARTS / "pool-check.png")
    report("routing", routing.run(2_000, 5))
    exported = run_command(export.run(list(export.SIZES)))
    report("export", exported)
    charts.memory_by_export(exported["runs"], charts.CHARTS / "memory-by-export.png")
    report("peer", run_command(_peer(lifecycles, concurrency, (5.0, 20.0, 54.0), 20.0, 5)))
    report("profile", run_command(_profile(300, concurrency)))
    _round_charts()
    result = table(life, newest, rec, screens)
    (RESULTS / "targets.md").write_text(result + "\n")
    typer.echo(result)


LOCAL = "bare Temporal, local"


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2)


def table(
    life: dict[str, Any],
    pend: list[dict[str, Any]],
    rec: dict[str, Any],
    screens: dict[str, Any] | None = None,
) -> str:
    """The targets, each a ratio to bare Temporal with local activities measured in the same run
    (or, for the pages, to the same query through the API), with whether it is met."""
    cpu = life["cpu_ms_per_lifecycle"]
    ours_cpu = cpu["assocflow"]["total"] - cpu["assocflow"].get("bench client", 0)
    bare_cpu = cpu[LOCAL]["total"] - cpu[LOCAL].get("bench client", 0)
    at5 = life["latency_by_rate"]["assocflow"]["5.0"], life["latency_by_rate"][LOCAL]["5.0"]
    submit = _ratio(at5[0]["submit_ms"]["p50"], at5[1]["submit_ms"]["p50"])
    decide = _ratio(at5[0]["decide_ms"]["p50"], at5[1]["decide_ms"]["p50"])
    throughput = life["throughput_ratio_to_bare_local"]
    rows: list[tuple[str, str, str, bool | None]] = [
        ("CPU per lifecycle, all processes but the load generator", f"{_ratio(ours_cpu, bare_cpu)} ({ours_cpu:.1f} vs {bare_cpu:.1f} ms)", "<= 1.4", ours_cpu / bare_cpu <= 1.4),
        ("lifecycle throughput", f"{throughput} ({life['lifecycles_per_second']['assocflow']} vs {life['lifecycles_per_second'][LOCAL]} /s)", ">= 0.75", throughput >= 0.75),
        ("submit p50 at 5 arrivals/s", f"{submit} ({at5[0]['submit_ms']['p50']} vs {at5[1]['submit_ms']['p50']} ms)", "<= 1.25", submit <= 1.25),
        ("decide p50 at 5 arrivals/s", f"{decide} ({at5[0]['decide_ms']['p50']} vs {at5[1]['decide_ms']['p50']} ms)", "<= 1.25", decide <= 1.25),
    ]  # fmt: skip
    for run in pend:
        n = run["pending_requests"]
        if "bare_local" in run:
            ours_s, bare_s = run["seconds_to_hold_all"], run["bare_local"]["seconds_to_hold_all"]
            rows.append((f"{n:,} pending requests started", f"{_ratio(ours_s, bare_s)} ({ours_s} vs {bare_s} s)", "<= 1.2", ours_s / bare_s <= 1.2))  # fmt: skip
    overload = life["latency_by_rate"]["assocflow"].get(str(max(RATES)))
    if overload is not None:
        slowest = overload["slowest_answer_ms"]
        times = max(RATES) / life["lifecycles_per_second"]["assocflow"]
        rows.append((f"slowest answer at {max(RATES):g} arrivals/s ({times:.1f}x capacity; served or refused), ms", f"{slowest} ({overload['submits_refused_share']:.0%} of submits refused)", "<= 2000", slowest <= 2000))  # fmt: skip
    for run in pend:
        n = run["pending_requests"]
        limit = 300 if n <= 10_000 else 500
        rss = run["worker_rss_mb_holding"]
        rows.append((f"worker RSS holding {n:,} pending, MB", f"{rss}", f"< {limit}", rss < limit))
    worst = rec["worst_p95_ratio_to_floor"]
    rows.append(("records API p95 / framework floor (worst filter)", f"{worst}", "<= 1.3", worst <= 1.3))  # fmt: skip
    for name, page in (screens or {}).get("pages", {}).items():
        ratio = page["p95_ratio"]
        against = "API" if page["against"].startswith("/") else "SQL"
        rows.append((f"console p95 / {against}: {name}", f"{ratio} ({page['page_ms']['p95']} vs {page['against_ms']['p95']} ms)", "<= 1.3", ratio <= 1.3))  # fmt: skip
    lines = ["| measure (ratio to bare Temporal, local activities) | measured | target | met |"]
    lines.append("|---|---|---|---|")
    met = {True: "met", False: "**not met**", None: "—"}
    lines += [f"| {m} | {v} | {t} | {met[ok]} |" for m, v, t, ok in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    # The benchmarks hold Temporal clients: end as every assocflow process does (exit 0 on
    # Ctrl-C, local stacks cleaned up by their exit handlers, no runtime thread left behind).
    run_main(app)
