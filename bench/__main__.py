"""assocflow's benchmarks, each on a fresh stack of real processes on this machine.

python -m bench lifecycle --lifecycles 300 --concurrency 20 --rate 15 --seconds 20
python -m bench pending --requests 10000
python -m bench records --rows 1000000
python -m bench all
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from assocflow.process import run_command, run_main
from assocflow.settings import Settings
from assocflow.temporal import connect
from bench import common, pending, records
from bench.lifecycle import Assocflow, Baseline, closed_loop, open_loop

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


async def _lifecycle(
    lifecycles: int, concurrency: int, rate: float, seconds: float, warmup: int, rounds: int
) -> dict[str, Any]:
    # A reminder timer would be one more timer than the baseline has: off, for the same shape.
    async with (
        common.running_stack(reminder_before="PT0S") as stack,
        common.baseline_worker(stack) as queue,
    ):
        arrivals = int(rate * seconds)
        population = await common.populate(stack.database_url, warmup + lifecycles + arrivals)
        client = await connect(Settings(temporal_address=stack.temporal_address))
        ours, bare = Assocflow(stack.api, population, concurrency), Baseline(client, queue)
        parties = population.parties
        warm, throughput_parties, latency_parties = (
            parties[:warmup], parties[warmup : warmup + lifecycles], parties[warmup + lifecycles :],
        )  # fmt: skip
        await closed_loop(ours.lifecycle, warm, concurrency)
        await closed_loop(bare.lifecycle, warm, concurrency)
        # Rounds that alternate the two, so that a slow moment of the machine does not land on
        # one of them only; the median round counts.
        ours_rates: list[float] = []
        bare_rates: list[float] = []
        ours_cpu: dict[str, float] = {}
        bare_cpu: dict[str, float] = {}
        per_round = len(throughput_parties) // rounds
        for r in range(rounds):
            batch = throughput_parties[r * per_round : (r + 1) * per_round]
            meter = common.CpuMeter(common.stack_pids(stack))
            ours_rates.append((await closed_loop(ours.lifecycle, batch, concurrency))[0])
            ours_cpu = common.add(ours_cpu, meter.used())
            meter = common.CpuMeter(common.stack_pids(stack))
            bare_rates.append((await closed_loop(bare.lifecycle, batch, concurrency))[0])
            bare_cpu = common.add(bare_cpu, meter.used())
        ours_rate, bare_rate = statistics.median(ours_rates), statistics.median(bare_rates)
        ours_latency = await open_loop(ours.lifecycle, latency_parties, rate)
        bare_latency = await open_loop(bare.lifecycle, latency_parties, rate)
        await ours.aclose()
    submit, decide = common.summary_ms(ours_latency.submit), common.summary_ms(ours_latency.decide)
    bare_submit, bare_decide = (
        common.summary_ms(bare_latency.submit),
        common.summary_ms(bare_latency.decide),
    )
    return {
        "throughput_ratio": round(ours_rate / bare_rate, 3),
        "submit_p99_ratio": round(submit["p99"] / bare_submit["p99"], 2),
        "decide_p99_ratio": round(decide["p99"] / bare_decide["p99"], 2),
        "assocflow_lifecycles_per_second": round(ours_rate, 1),
        "baseline_lifecycles_per_second": round(bare_rate, 1),
        "round_ratios": [round(o / b, 3) for o, b in zip(ours_rates, bare_rates, strict=True)],
        "cpu_ms_per_lifecycle_assocflow": common.per(ours_cpu, lifecycles),
        "cpu_ms_per_lifecycle_baseline": common.per(bare_cpu, lifecycles),
        "lifecycles": lifecycles,
        "concurrency": concurrency,
        "open_loop_rate_per_second": rate,
        "open_loop_seconds": seconds,
        "assocflow_submit_ms": submit,
        "baseline_submit_ms": bare_submit,
        "assocflow_decide_ms": decide,
        "baseline_decide_ms": bare_decide,
    }


@app.command()
def lifecycle(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles for the throughput run.")] = 300,
    concurrency: Annotated[int, typer.Option(help="Lifecycles in flight (closed loop).")] = 20,
    rate: Annotated[float, typer.Option(help="Arrivals per second (open loop).")] = 15.0,
    seconds: Annotated[float, typer.Option(help="Length of the open-loop run.")] = 20.0,
    warmup: Annotated[int, typer.Option(help="Lifecycles run first and not counted.")] = 40,
    rounds: Annotated[int, typer.Option(help="Alternating rounds of each (median counts).")] = 5,
) -> None:
    """Throughput and latency of full lifecycles, and of the bare Temporal baseline."""
    result = run_command(_lifecycle(lifecycles, concurrency, rate, seconds, warmup, rounds))
    report("lifecycle", result)


async def _pending(requests: int, idle: float, concurrency: int) -> dict[str, Any]:
    import psycopg

    async with common.running_stack(reminder_before="PT0S") as stack:
        population = await common.populate(stack.database_url, requests)
        client = await connect(Settings(temporal_address=stack.temporal_address))
        worker = stack.procs["worker"].pid
        idle_worker_mb = common.rss_mb(worker)
        seconds = await pending.hold(stack, client, population, concurrency)
        holding_mb = common.rss_mb(worker)
        await asyncio.sleep(idle)
        after_idle_mb = common.rss_mb(worker)
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            order = "SELECT id::text FROM disassociation_requests WHERE status = 'pending' ORDER BY submitted_at {} LIMIT 5"
            oldest = [r[0] for r in await (await conn.execute(order.format("ASC"))).fetchall()]
            newest = [r[0] for r in await (await conn.execute(order.format("DESC"))).fetchall()]
        long_idle = [await pending.decide_on(stack.api, population, r) for r in oldest]
        recent = [await pending.decide_on(stack.api, population, r) for r in newest]
        final_mb = common.rss_mb(worker)
    return {
        "worker_rss_mb_holding": round(holding_mb, 1),
        "target_rss_mb": 300,
        "pending_requests": requests,
        "worker_rss_mb_idle_before": round(idle_worker_mb, 1),
        "worker_rss_mb_after_idle": round(after_idle_mb, 1),
        "worker_rss_mb_after_decisions": round(final_mb, 1),
        "seconds_to_hold_all": round(seconds, 1),
        "idle_seconds_before_deciding": idle,
        "decision_ms_long_idle": common.summary_ms(long_idle),
        "decision_ms_recent": common.summary_ms(recent),
    }


@app.command("pending")
def pending_command(
    requests: Annotated[int, typer.Option(help="Pending requests to hold.")] = 10_000,
    idle: Annotated[float, typer.Option(help="Seconds they all wait before a decision.")] = 60.0,
    concurrency: Annotated[int, typer.Option(help="Starts in flight while filling.")] = 50,
) -> None:
    """Worker memory with many pending requests, and a decision on a long-idle one."""
    report("pending", run_command(_pending(requests, idle, concurrency)))


async def _records(rows: int, repeat: int, limit: int) -> dict[str, Any]:
    async with common.running_stack() as stack:
        data = await records.fill(stack.database_url, rows)
        results = await records.measure(stack.api, stack.database_url, data, repeat, limit)
    worst = max(r["p95_ratio"] for r in results.values())
    return {
        "worst_p95_ratio": worst,
        "target_p95_ratio": 1.5,
        "rows": rows,
        "big_partner_rows": data["big_partner_rows"],
        "insert_seconds": data["insert_seconds"],
        "page_size": limit,
        "repeat": repeat,
        "queries": results,
    }


@app.command("records")
def records_command(
    rows: Annotated[int, typer.Option(help="Association records to create.")] = 1_000_000,
    repeat: Annotated[int, typer.Option(help="Calls per query.")] = 200,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
) -> None:
    """GET /v1/association-records at scale, against the same SQL run bare."""
    report("records", run_command(_records(rows, repeat, limit)))


@app.command("all")
def all_benchmarks(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles for the throughput run.")] = 300,
    concurrency: Annotated[int, typer.Option(help="Lifecycles in flight (closed loop).")] = 10,
    rate: Annotated[float, typer.Option(help="Arrivals per second (open loop).")] = 5.0,
    seconds: Annotated[float, typer.Option(help="Length of the open-loop run.")] = 30.0,
    pending_requests: Annotated[int, typer.Option(help="Pending requests to hold.")] = 10_000,
    idle: Annotated[float, typer.Option(help="Seconds they wait before a decision.")] = 60.0,
    records_rows: Annotated[int, typer.Option(help="Association records to create.")] = 1_000_000,
) -> None:
    """Every benchmark, then the ratios and targets in one table."""
    results = {
        "lifecycle": run_command(_lifecycle(lifecycles, concurrency, rate, seconds, 40, 5)),
        "pending": run_command(_pending(pending_requests, idle, 50)),
        "records": run_command(_records(records_rows, 200, 50)),
    }
    for name, result in results.items():
        report(name, result)
    life, pend, rec = results["lifecycle"], results["pending"], results["records"]
    rows = [
        ("lifecycle throughput, assocflow / bare Temporal", life["throughput_ratio"], ">= 0.8", life["throughput_ratio"] >= 0.8),
        ("submit p99, assocflow / bare", life["submit_p99_ratio"], "<= 2", life["submit_p99_ratio"] <= 2),
        ("decision p99, assocflow / bare", life["decide_p99_ratio"], "<= 2", life["decide_p99_ratio"] <= 2),
        (f"worker RSS with {pend['pending_requests']} pending (MB)", pend["worker_rss_mb_holding"], "< 300", pend["worker_rss_mb_holding"] < 300),
        ("records p95, API / bare SQL (worst query)", rec["worst_p95_ratio"], "<= 1.5", rec["worst_p95_ratio"] <= 1.5),
    ]  # fmt: skip
    typer.echo("\n| measure | value | target | met |\n|---|---|---|---|")
    for measure, value, target, met in rows:
        typer.echo(f"| {measure} | {value} | {target} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    # The benchmarks hold Temporal clients: end as every assocflow process does (exit 0 on
    # Ctrl-C, local stacks cleaned up by their exit handlers, no runtime thread left behind).
    run_main(app)
