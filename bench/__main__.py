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
from typing import Annotated

import typer

from assocflow.settings import Settings
from assocflow.temporal import connect
from bench import common, pending
from bench.lifecycle import Assocflow, Baseline, closed_loop, open_loop

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.callback()
def main() -> None:
    """assocflow's benchmarks."""


RESULTS = Path(__file__).resolve().parent.parent / "build" / "bench"


def report(name: str, result: dict) -> None:
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
) -> dict:
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
        ours_rates, bare_rates, ours_cpu, bare_cpu = [], [], {}, {}
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
    result = asyncio.run(_lifecycle(lifecycles, concurrency, rate, seconds, warmup, rounds))
    report("lifecycle", result)


async def _pending(requests: int, idle: float, concurrency: int) -> dict:
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
    report("pending", asyncio.run(_pending(requests, idle, concurrency)))


if __name__ == "__main__":
    app()
