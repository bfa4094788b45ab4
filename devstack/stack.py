"""A whole assocflow stack of real processes whose parts can be killed and started again:
PostgreSQL, the Temporal dev server (on a state file), the worker and the API. The fault tests
and the benchmarks run on it."""

from __future__ import annotations

import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

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
    # The ports of further API processes ("api-2", ...), as they are started.
    more_api_ports: dict[str, int] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def port_of(self, api: str) -> int:
        """The port of API process `api` ("api", "api-2", ...)."""
        if api == "api":
            return self.api_port
        return self.more_api_ports.setdefault(api, services.free_port())

    def url_of(self, api: str) -> str:
        return f"http://127.0.0.1:{self.port_of(api)}"

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

    def stop_postgres(self, mode: str = "fast") -> None:
        """Stop PostgreSQL, cutting open connections as in an outage. "fast": each session is told
        (AdminShutdown) and closed; "immediate": the server quits at once, as in a crash (it
        recovers from its WAL when started again)."""
        services.pg_ctl(self._pg, "-w", "stop", "-m", mode)

    def restart_postgres(self) -> None:
        """Start PostgreSQL again (after `stop_postgres`); returns once it accepts connections."""
        self._pg.ensure_postgres_running()

    def bounce_postgres(self) -> None:
        """A restart in one step (pg_ctl restart, fast): what an upgrade or a failover does."""
        services.pg_ctl(self._pg, "-w", "restart", "-m", "fast")

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
        """Start process `name`: "worker" or "api", or another of either kind ("worker-2",
        "api-2": each API on a port of its own)."""
        kind = name.partition("-")[0]
        args = {"worker": ["worker.py"], "api": ["-m", "server"]}[kind]
        env = self.env()
        if kind == "api":
            env["ASSOCFLOW_API_PORT"] = str(self.port_of(name))
        self.procs[name] = services.spawn_python(args, self.workdir / f"{name}.log", env=env)
        if kind == "api":
            port = self.port_of(name)
            services.wait_for_port("127.0.0.1", port, timeout=60, process=self.procs[name])
            httpx.get(f"{self.url_of(name)}/healthz", timeout=10).raise_for_status()

    def stop(self, name: str) -> None:
        """SIGTERM: the process shuts down cleanly (a worker stops polling first)."""
        services.stop(self.procs.pop(name))

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
        """The APIs first, then the workers, then Temporal, then anything else started."""
        order = {"api": 0, "worker": 1, "temporal": 2}
        for name in sorted(self.procs, key=lambda n: order.get(n.partition("-")[0], len(order))):
            services.stop(self.procs.pop(name))
