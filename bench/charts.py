"""The benchmarks' pictures (matplotlib, no display): latency against arrival rate, worker
memory against pending requests, the cost of checking pooled connections, and the API's memory
through CSV exports. `make bench` writes them to docs/performance/."""

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


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
