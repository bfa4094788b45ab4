"""`python -m devstack run`: the whole assocflow stack on this machine (what `make run` does).

PostgreSQL (embedded, data in .data/postgres) and the Temporal dev server (state in
.data/temporal.db, UI on :8233) start unless DATABASE_URL / TEMPORAL_ADDRESS point elsewhere;
then migrations, demo data, the worker and the API. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from assocflow.settings import Settings
from devstack import services
from devstack.seed import DEMO_TOKENS, seed
from store.db import migrate
from webhooks.secrets import new_key

ROOT = services.ROOT
cli = typer.Typer(add_completion=False, help=__doc__)


@cli.callback()
def main() -> None:
    """assocflow's local stack."""


class Stack:
    """The processes this run started, stopped in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def add(self, name: str, proc: subprocess.Popen) -> None:
        self.procs.append((name, proc))

    def start(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        """`python <args>`, logging to `log_dir/<name>.log`."""
        self.add(
            name, services.spawn_python(args, log_dir / f"{name}.log", env=env, new_session=True)
        )

    def dead(self) -> str | None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            services.stop(proc)


@cli.command()
def run(
    data_dir: Annotated[Path, typer.Option(help="Where local state lives.")] = ROOT / ".data",
    temporal_port: Annotated[int, typer.Option(help="Temporal dev server gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
) -> None:
    """Start PostgreSQL, Temporal, the worker and the API; print where to go and the tokens."""
    settings = Settings()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "logs"
    stack = Stack()
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        database_url = os.environ.get("DATABASE_URL") or _local_postgres(data_dir)
        temporal_address = os.environ.get("TEMPORAL_ADDRESS") or _local_temporal(
            stack, data_dir, temporal_port, ui_port
        )
        asyncio.run(migrate(database_url))
        demo = asyncio.run(seed(database_url, data_dir / "demo-tokens.json"))
        env = services.child_env(
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=temporal_address,
            PYTHONUNBUFFERED="1",
            # A local stack may send webhooks to local receivers, and keeps its own key for
            # the endpoints' signing secrets.
            ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE=os.environ.get(
                "ASSOCFLOW_WEBHOOK_ALLOW_PRIVATE", "true"
            ),
            ASSOCFLOW_ENCRYPTION_KEY=os.environ.get("ASSOCFLOW_ENCRYPTION_KEY")
            or _local_key(data_dir / "encryption.key"),
        )
        stack.start("worker", ["worker.py"], env, log_dir)
        stack.start(
            "api",
            ["-m", "api"],
            env,
            log_dir,
        )
        services.wait_for_port(
            settings.api_host, settings.api_port, timeout=60, process=stack.procs[-1][1]
        )
        _write_env_file(data_dir / "demo.env", demo, settings, database_url, temporal_address)
        _print_banner(
            settings, demo, data_dir, ui_port if "TEMPORAL_ADDRESS" not in os.environ else None
        )
        while not stopping:
            if (name := stack.dead()) is not None:
                typer.echo(
                    f"assocflow: the {name} exited; see {log_dir / (name + '.log')}", err=True
                )
                raise typer.Exit(1)
            time.sleep(0.5)
        typer.echo("\nassocflow: stopping…")
    finally:
        stack.stop()


def _local_key(path: Path) -> str:
    """The local stack's encryption key, made once and kept with its data."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key())
    return path.read_text().strip()


def _local_postgres(data_dir: Path) -> str:
    server = services.embedded_postgres(data_dir / "postgres", keep=True)
    return services.ensure_database(server.get_uri(), "assocflow")


def _local_temporal(stack: Stack, data_dir: Path, port: int, ui_port: int) -> str:
    for busy in (p for p in (port, ui_port) if not services.port_is_free(p)):
        typer.echo(
            f"assocflow: port {busy} is in use. Stop what uses it, pass --temporal-port/--ui-port,"
            " or set TEMPORAL_ADDRESS to use a running Temporal.",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo("assocflow: starting the Temporal dev server…")
    proc = services.start_temporal_dev_server(
        db_file=data_dir / "temporal.db",
        port=port,
        ui_port=ui_port,
        log_file=data_dir / "logs" / "temporal.log",
    )
    stack.add("temporal", proc)
    return f"127.0.0.1:{port}"


def _write_env_file(
    path: Path, demo: dict[str, str], settings: Settings, database_url: str, temporal: str
) -> None:
    lines = [
        f"export API=http://{settings.api_host}:{settings.api_port}",
        f"export DATABASE_URL='{database_url}'",  # for the `assocflow` CLI
        f"export TEMPORAL_ADDRESS={temporal}",  # for the `temporal` CLI
    ]
    lines += [f"export {name}={token}" for name, token in demo.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")


def _print_banner(
    settings: Settings, demo: dict[str, str], data_dir: Path, ui_port: int | None
) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    who = {t.env_name: t.who for t in DEMO_TOKENS}
    typer.echo("\nassocflow is up.\n")
    typer.echo(f"  API docs      {api}/docs")
    if ui_port:
        typer.echo(f"  Temporal UI   http://127.0.0.1:{ui_port}")
    typer.echo(f"  Logs          {data_dir / 'logs'}")
    typer.echo(f"\nDemo tokens (also in {data_dir / 'demo.env'}: `source .data/demo.env`):\n")
    typer.echo(f"export API={api}")
    for name, token in demo.items():
        typer.echo(f"export {name}={token}    # {who[name]}")
    typer.echo("\nPress Ctrl-C to stop.", err=False)
    sys.stdout.flush()


if __name__ == "__main__":
    cli()
