"""`python -m devstack run`: the whole assocflow stack on this machine (what `make run` does).

PostgreSQL (embedded, data in .data/postgres) and the Temporal dev server (state in
.data/temporal.db, UI on :8233) start unless DATABASE_URL / TEMPORAL_ADDRESS point elsewhere;
then migrations, demo data, the worker and the API. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from assocflow.process import STOP_SIGNALS, stop_signals_interrupt
from assocflow.settings import Settings
from assocflow.temporal import connect
from devstack import services
from devstack.seed import DEMO_TOKENS, DemoSignIn, seed, sign_ins
from store.db import migrate
from webhooks.secrets import new_key
from workflows import versions
from workflows.request import RequestWorkflow

ROOT = services.ROOT
cli = typer.Typer(add_completion=False, help=__doc__)


@cli.callback()
def main() -> None:
    """assocflow's local stack."""


class Stack:
    """The processes this run started, stopped in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.log_offsets: dict[str, int] = {}

    def add(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self.procs.append((name, proc))

    def start(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        """`python <args>`, logging to `log_dir/<name>.log` (appended to across runs)."""
        log = log_dir / f"{name}.log"
        self.log_offsets[name] = log.stat().st_size if log.exists() else 0
        with _stop_signals_held():
            self.add(name, services.spawn_python(args, log, env=env, new_session=True))

    def wait_for_log(self, name: str, needle: str, log_dir: Path, *, timeout: float) -> None:
        """Until `name` writes a line containing `needle` in this run."""
        proc = dict(self.procs)[name]
        services.wait_for_log_line(
            log_dir / f"{name}.log", needle, self.log_offsets[name], timeout=timeout, process=proc
        )

    def dead(self) -> str | None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if not services.stop(proc):
                typer.echo(
                    f"assocflow: the {name} did not stop within 10 s and was killed", err=True
                )


@cli.command()
def run(
    data_dir: Annotated[Path, typer.Option(help="Where local state lives.")] = ROOT / ".data",
    temporal_port: Annotated[
        int,
        typer.Option(help="Temporal dev server gRPC port.", envvar="ASSOCFLOW_DEV_TEMPORAL_PORT"),
    ] = 7233,
    ui_port: Annotated[
        int, typer.Option(help="Temporal Web UI port.", envvar="ASSOCFLOW_DEV_UI_PORT")
    ] = 8233,
) -> None:
    """Start PostgreSQL, Temporal, the worker and the API; print where to go and the tokens."""
    settings = Settings()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "logs"
    external_temporal = os.environ.get("TEMPORAL_ADDRESS")
    _refuse_busy_ports(settings, None if external_temporal else (temporal_port, ui_port))
    # Ctrl-C and SIGTERM stop start-up at once, wherever it is, and a running stack alike (set
    # for both: a shell that starts make in the background has it ignore SIGINT).
    stop_signals_interrupt()
    stack = Stack()
    try:
        database_url = os.environ.get("DATABASE_URL") or _local_postgres(data_dir)
        temporal_address = external_temporal or _local_temporal(
            stack, data_dir, temporal_port, ui_port
        )
        applied = asyncio.run(migrate(database_url))
        _say("schema", f"up to date ({len(applied)} migration(s) applied now)")
        demo = asyncio.run(seed(database_url, data_dir / "demo-tokens.json"))
        people = asyncio.run(sign_ins(database_url, data_dir / "demo-passwords.json"))
        _say("demo data", "in place")
        api = f"http://{settings.api_host}:{settings.api_port}"
        env = services.child_env(
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=temporal_address,
            PYTHONUNBUFFERED="1",
            # Invitation links point at this stack's API, which serves the console.
            ASSOCFLOW_PUBLIC_URL=os.environ.get("ASSOCFLOW_PUBLIC_URL") or api,
            # A local stack may send webhooks to local receivers, and keeps its own key for
            # the endpoints' signing secrets.
            ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE=os.environ.get(
                "ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE", "true"
            ),
            ASSOCFLOW_ENCRYPTION_KEY=os.environ.get("ASSOCFLOW_ENCRYPTION_KEY")
            or _local_key(data_dir / "encryption.key"),
        )
        stack.start("worker", ["worker.py"], env, log_dir)
        stack.wait_for_log("worker", WORKER_READY, log_dir, timeout=120)
        _say("worker", f"polling task queue {settings.task_queue!r}")
        asyncio.run(_this_build_runs_every_request(settings, temporal_address))
        stack.start("api", ["-m", "server"], env, log_dir)
        services.wait_for_http(
            f"{api}/healthz", timeout=60, process=stack.procs[-1][1], media_type="application/json"
        )
        _say("API", f"ready on {api}")
        _write_env_file(
            data_dir / "demo.env", demo, people, settings, database_url, temporal_address
        )
        _print_banner(settings, demo, people, data_dir, None if external_temporal else ui_port)
        while (name := stack.dead()) is None:
            time.sleep(0.5)
        typer.echo(f"assocflow: the {name} exited; see {log_dir / (name + '.log')}", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\nassocflow: stopping…")
    except services.ServiceFailed as failed:
        typer.echo(f"assocflow: {failed}", err=True)
        raise typer.Exit(1) from None
    finally:
        stack.stop()


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Ctrl-C waits while a process is started and registered, so that no process can be started
    without being stopped with the rest; the stop follows right after. (A handler that notes the
    signal, not a blocked signal mask, which the started process would inherit.)"""
    noted: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: noted.append(signum)) for sig in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if noted:
            raise KeyboardInterrupt


# The worker's log line once it polls its task queue.
WORKER_READY = "worker polling task queue"


async def _this_build_runs_every_request(settings: Settings, temporal_address: str) -> None:
    """One build runs on a developer's stack: the worker just started. It is made current, and
    each request still pinned to an earlier build moves to it if its history replays on today's
    code; any other is named, with the ways out (README, "After a workflow change")."""
    client = await connect(settings.model_copy(update={"temporal_address": temporal_address}))
    version = versions.version(settings.worker_deployment, settings.build_id)
    await versions.make_current(client, version)
    _say("worker", f"build {version.build_id} is current")
    result = await versions.move_what_replays(
        client, version, settings.task_queue, [RequestWorkflow]
    )
    if result.moved:
        _say(
            "requests", f"{len(result.moved)} moved to build {version.build_id} (they replay on it)"
        )
    for request in result.stuck:
        typer.echo(
            f"assocflow: request workflow {request.workflow_id} waits on build"
            f" {request.build_id or '(unversioned)'}, which no worker here runs, and cannot move"
            f" to {version.build_id} (its history does not replay on today's workflow code)."
            " Run that build's worker to let it finish, or end it: temporal workflow terminate"
            f" --workflow-id {request.workflow_id} (the reconciler then cancels its request).",
            err=True,
        )


def _say(service: str, what: str) -> None:
    typer.echo(f"assocflow: {service:<10} {what}")


def _refuse_busy_ports(settings: Settings, temporal_ports: tuple[int, int] | None) -> None:
    """Every port the stack will listen on must be free before anything starts; a busy one is
    named with the setting that moves it."""
    wanted = [(settings.api_host, settings.api_port, "the API", "set ASSOCFLOW_API_PORT")]
    if settings.worker_metrics_address:
        host, _, metrics_port = settings.worker_metrics_address.rpartition(":")
        wanted.append(
            (host or "127.0.0.1", int(metrics_port), "the worker's metrics",
             "set ASSOCFLOW_WORKER_METRICS_ADDRESS (empty: no metrics)"),
        )  # fmt: skip
    if temporal_ports is not None:
        temporal, ui = temporal_ports
        wanted += [
            ("127.0.0.1", temporal, "Temporal",
             "set ASSOCFLOW_DEV_TEMPORAL_PORT, or TEMPORAL_ADDRESS to use a running Temporal"),
            ("127.0.0.1", ui, "the Temporal UI", "set ASSOCFLOW_DEV_UI_PORT"),
        ]  # fmt: skip
    busy = [w for w in wanted if not services.port_is_free(w[1], w[0])]
    for host, port, what, remedy in busy:
        typer.echo(
            f"assocflow: port {port} on {host} ({what}) is in use: stop what uses it or {remedy}.",
            err=True,
        )
    if busy:
        raise typer.Exit(1)


def _local_key(path: Path) -> str:
    """The local stack's encryption key, made once and kept with its data."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key())
    return path.read_text().strip()


def _local_postgres(data_dir: Path) -> str:
    _say("PostgreSQL", "starting (embedded)…")
    server = services.embedded_postgres(data_dir / "postgres", keep=True)
    url = services.ensure_database(server.get_uri(), "assocflow")
    _say("PostgreSQL", f"ready, data in {data_dir / 'postgres'}")
    return url


def _local_temporal(stack: Stack, data_dir: Path, port: int, ui_port: int) -> str:
    _say("Temporal", "starting the dev server…")
    with _stop_signals_held():
        proc = services.spawn_temporal_dev_server(
            db_file=data_dir / "temporal.db",
            port=port,
            ui_port=ui_port,
            log_file=data_dir / "logs" / "temporal.log",
        )
        stack.add("temporal", proc)
    services.wait_for_port("127.0.0.1", port, timeout=60, process=proc)
    _say("Temporal", f"ready on 127.0.0.1:{port}, Web UI on http://127.0.0.1:{ui_port}")
    return f"127.0.0.1:{port}"


def _write_env_file(
    path: Path,
    demo: dict[str, str],
    people: list[DemoSignIn],
    settings: Settings,
    database_url: str,
    temporal: str,
) -> None:
    lines = [
        f"export API=http://{settings.api_host}:{settings.api_port}",
        f"export DATABASE_URL='{database_url}'",  # for the `assocflow` CLI
        f"export TEMPORAL_ADDRESS={temporal}",  # for the `temporal` CLI
    ]
    lines += [f"export {name}={token}" for name, token in demo.items()]
    for person in people:  # the console's sign-ins
        lines += [
            f"export {person.name}_EMAIL={person.email}",
            f"export {person.name}_PASSWORD={person.password}",
        ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")


def _print_banner(
    settings: Settings,
    demo: dict[str, str],
    people: list[DemoSignIn],
    data_dir: Path,
    ui_port: int | None,
) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    who = {t.env_name: t.who for t in DEMO_TOKENS}
    typer.echo("\nassocflow is up.\n")
    typer.echo(f"  API docs      {api}/docs")
    typer.echo(f"  Console       {api}/console/")
    if ui_port:
        typer.echo(f"  Temporal UI   http://127.0.0.1:{ui_port}")
    typer.echo(f"  Logs          {data_dir / 'logs'}")
    typer.echo(f"\nDemo tokens (also in {data_dir / 'demo.env'}: `source .data/demo.env`):\n")
    typer.echo(f"export API={api}")
    for name, token in demo.items():
        typer.echo(f"export {name}={token}    # {who[name]}")
    typer.echo(
        f"\nConsole sign-ins at {api}/console/ (also in demo.env as <NAME>_EMAIL, _PASSWORD):\n"
    )
    width = max(len(person.email) for person in people)
    for person in people:
        typer.echo(f"  {person.email:<{width}}  {person.password}    # {person.who}")
    typer.echo("\nPress Ctrl-C to stop.", err=False)
    sys.stdout.flush()


if __name__ == "__main__":
    cli()
