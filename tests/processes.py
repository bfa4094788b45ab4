"""assocflow's own processes started by tests: each on ports chosen free, so the suite runs beside
`make run` (or anything else) on the same machine, and each one's log checked as an operator
would read it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from devstack import services

WORKER_READY = "worker polling task queue"


def start_worker(
    database_url: str,
    temporal_address: str,
    task_queue: str,
    log: Path,
    *,
    metrics_port: int | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """worker.py with its Prometheus exporter on `metrics_port` (a free one if None) and the
    given ASSOCFLOW_* settings. No reconciler unless the settings ask for one: it would settle
    requests of other tests that share the database but not the Temporal server."""
    settings = {"reconcile_interval": "0", **settings}
    env = services.child_env(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        ASSOCFLOW_TASK_QUEUE=task_queue,
        ASSOCFLOW_WORKER_METRICS_ADDRESS=f"127.0.0.1:{metrics_port or services.free_port()}",
        PYTHONUNBUFFERED="1",
        **{f"ASSOCFLOW_{name.upper()}": value for name, value in settings.items()},
    )
    return services.spawn_python(["worker.py"], log, env=env)


def wait_until_polling(proc: subprocess.Popen[bytes], log: Path, offset: int = 0) -> None:
    services.wait_for_log_line(log, WORKER_READY, offset, timeout=60, process=proc)


def json_log_lines(log: Path) -> list[dict[str, object]]:
    """Every line of `log` as JSON; fails on a line that is not (a traceback, a fatal error)."""
    text = log.read_text()
    assert "Fatal Python error" not in text, text[-3000:]
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"{log.name}:{number} is not JSON: {line!r}") from None
    return lines
