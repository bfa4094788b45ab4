"""The benchmarks' pictures (matplotlib, no display): latency against arrival rate, worker
memory against pending requests, the cost of checking pooled connections, the API's memory
through CSV exports, a lifecycle's CPU by process and by step, and the console's pages against
the API. `make bench` writes them to docs/performance/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt  # noqa: E402

CHARTS = Path(__file__).resolve().parent.parent / "docs" / "performance"
STYLE = {"assocflow": "tab:blue", "bare Temporal": "tab:gray", "bare Temporal, local": "tab:green"}


def latency_by_rate(sweep: dict[str, dict[str, Any]], path: Path) -> Path:
    """Submit and decide p50/p99 against arrivals per second, one line per system."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    for ax, step in zip(axes, ("submit", "decide"), strict=True):
        for system, by_rate in sweep.items():
            rates = sorted(by_rate, key=float)
            for q, dash in (("p50", "-"), ("p99", "--")):
                ax.plot(
                    [float(r) for r in rates],
                    [by_rate[r][f"{step}_ms"][q] for r in rates],
                    dash,
                    marker="o",
                    color=STYLE.get(system),
                    label=f"{system} {q}",
                )
        ax.set_title(f"{step} latency")
        ax.set_xlabel("arrivals per second")
        ax.set_ylabel("milliseconds")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def memory_by_pending(series: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    """Worker RSS (MB) against requests pending, one line per run."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, points in series.items():
        ax.plot([p for p, _ in points], [mb for _, mb in points], marker=".", label=name)
    ax.set_xlabel("requests pending")
    ax.set_ylabel("worker RSS (MB)")
    ax.set_title("worker memory while requests wait")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def pool_check(result: dict[str, Any], path: Path) -> Path:
    """µs per checkout (with a SELECT 1 on it) for each way of checking pooled connections."""
    costs: dict[str, float] = result["us_per_checkout_with_select_1"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    names = list(costs)
    bars = ax.barh(names, [costs[n] for n in names], color=["tab:gray", "tab:blue", "tab:orange"])
    ax.bar_label(bars, fmt="%.0f µs", padding=3)
    ax.invert_yaxis()
    ax.set_xlabel("µs per checkout with a SELECT 1 (median of rounds)")
    ax.set_title("checking that a pooled connection is still open")
    ax.set_xlim(0, max(costs.values()) * 1.25)
    fig.tight_layout()
    return _save(fig, path)


def memory_by_export(runs: list[dict[str, Any]], path: Path) -> Path:
    """The API's RSS (MB) through each export, against seconds into it; and its peak against the
    records exported, beside what holding the whole file would take (its RSS before plus the
    CSV's size)."""
    fig, (during, peaks) = plt.subplots(1, 2, figsize=(11, 4.2))
    top = max(run["api_rss_mb_peak"] for run in runs) * 1.3
    for run in runs:
        points = run["rss_mb_by_second"]
        label = f"{run['records']:,} records ({run['seconds']:.1f} s)"
        during.plot([t for t, _ in points], [mb for _, mb in points], label=label)
    during.set_xlabel("seconds into the export")
    during.set_ylabel("API RSS (MB)")
    during.set_title("API memory during a CSV export")
    during.set_ylim(0, top)
    during.grid(True, alpha=0.3)
    during.legend(fontsize=8, loc="lower right")
    sizes = [run["records"] for run in runs]
    held = [run["api_rss_mb_before"] + run["mb_sent"] for run in runs]
    peaks.plot(sizes, [run["api_rss_mb_peak"] for run in runs], marker="o", label="peak, streamed")
    peaks.plot(sizes, held, ":", marker=".", color="tab:gray", label="before + the CSV's size")
    peaks.set_xscale("log")
    peaks.set_ylim(bottom=0)
    peaks.set_xlabel("records exported")
    peaks.set_ylabel("API RSS (MB)")
    peaks.set_title("peak API memory by export size")
    peaks.grid(True, which="both", alpha=0.3)
    peaks.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


# Each process as the chart names it (the baseline's worker is a worker, the peer's app an API).
PROCESSES = {
    "temporal": ("Temporal server", "tab:purple"),
    "worker": ("worker", "tab:blue"),
    "baseline": ("worker", "tab:blue"),
    "api": ("API", "tab:orange"),
    "peer": ("API", "tab:orange"),
    "postgres": ("PostgreSQL", "tab:green"),
}


def cpu_by_process(systems: dict[str, dict[str, float]], path: Path) -> Path:
    """CPU ms per lifecycle, stacked by process (the load generator left out), one bar a system."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(systems)
    left = [0.0] * len(names)
    shown: dict[str, dict[str, float]] = {name: {} for name in names}
    for name, cpu in systems.items():
        for process, ms in cpu.items():
            if process in PROCESSES:
                label = PROCESSES[process][0]
                shown[name][label] = shown[name].get(label, 0.0) + ms
    colours = dict(PROCESSES.values())
    for label, colour in colours.items():
        widths = [shown[n].get(label, 0.0) for n in names]
        ax.barh(names, widths, left=left, label=label, color=colour)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, total in enumerate(left):
        ax.text(total + 0.5, y, f"{total:.1f} ms", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("CPU ms per lifecycle (load generator left out)")
    ax.set_title("what a lifecycle costs, by process")
    ax.set_xlim(0, max(left) * 1.2)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def cpu_by_step(processes: dict[str, dict[str, Any]], path: Path, top: int = 10) -> Path:
    """Each sampled process's CPU per lifecycle by step (bench profile), its `top` steps."""
    fig, axes = plt.subplots(1, len(processes), figsize=(12, 4.2))
    for ax, (name, found) in zip(axes, processes.items(), strict=True):
        steps = list(found["by_step"].items())[:top]
        bars = ax.barh([s for s, _ in steps], [ms for _, ms in steps], color="tab:blue")
        ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=7)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("CPU ms per lifecycle")
        ax.set_title(f"{name}: {found['cpu_ms']:.1f} ms a lifecycle")
    fig.tight_layout()
    return _save(fig, path)


def pages_against_api(result: dict[str, Any], path: Path) -> Path:
    """p95 of each console page beside the same query through the JSON API (or its SQL)."""
    pages = result["pages"]
    names = list(pages)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.2))
    ys = range(len(names))
    page_p95 = [pages[n]["page_ms"]["p95"] for n in names]
    other_p95 = [pages[n]["against_ms"]["p95"] for n in names]
    ax.barh([y - 0.2 for y in ys], page_p95, height=0.4, label="console page", color="tab:blue")
    ax.barh(
        [y + 0.2 for y in ys], other_p95, height=0.4, label="JSON API (or SQL)", color="tab:gray"
    )
    for y, n in zip(ys, names, strict=True):
        ax.text(page_p95[y] + 0.2, y - 0.2, f"{pages[n]['p95_ratio']}×", va="center", fontsize=7)
    ax.set_yticks(list(ys), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("p95 ms")
    title = f"{result['customers']:,} customers, {result['records']:,} records"
    ax.set_title(f"the console's pages against the API: {title}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
