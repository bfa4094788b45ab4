"""A stand-in for `docker compose`, for running deploy/smoke.sh where no Docker engine is:
`up` starts real assocflow processes (two workers, two APIs) on this machine against the
database and Temporal server the test names (FAKE_DATABASE_URL, FAKE_TEMPORAL_ADDRESS), with a
round-robin TCP proxy on the published port (ASSOCFLOW_HTTP_PORT), as the compose file's proxy
spreads calls over API replicas; `exec api python`, `ps`, `logs` and `down` act on them. Every
call is appended to $FAKE_DOCKER_STATE/calls. FAKE_UP_FAILS=1 makes `up` fail as a setup job
would."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("FAKE_DOCKER_STATE", "/nonexistent"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(name: str, args: list[str], env: dict[str, str]) -> None:
    log = open(STATE / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    with open(STATE / "pids", "a") as pids:
        pids.write(f"{name} {proc.pid}\n")


def pids() -> dict[str, int]:
    path = STATE / "pids"
    lines = path.read_text().split("\n") if path.exists() else []
    return {name: int(pid) for name, pid in (line.split() for line in lines if line)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up() -> int:
    if os.environ.get("FAKE_UP_FAILS"):
        print('service "temporal-schema" didn\'t complete successfully: exit 1', file=sys.stderr)
        return 1
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["FAKE_DATABASE_URL"],
        "TEMPORAL_ADDRESS": os.environ["FAKE_TEMPORAL_ADDRESS"],
        "ASSOCFLOW_TASK_QUEUE": f"smoke-{os.getpid()}",
        "ASSOCFLOW_WORKER_METRICS_ADDRESS": "",
        "PYTHONUNBUFFERED": "1",
    }
    for n in (1, 2):
        spawn(f"worker-{n}", [sys.executable, "worker.py"], env)
    ports = [free_port(), free_port()]
    for n, port in enumerate(ports, 1):
        spawn(
            f"api-{n}", [sys.executable, "-m", "server"], {**env, "ASSOCFLOW_API_PORT": str(port)}
        )
    published = os.environ["ASSOCFLOW_HTTP_PORT"]
    spawn("proxy", [sys.executable, __file__, "proxy", published, *map(str, ports)], env)
    import httpx  # compose's `up` returns once the API replicas are healthy

    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.2)
    return 0


def proxy(listen: int, backends: list[int]) -> None:
    turn = itertools.cycle(backends)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", next(turn))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(main())


def logs(services: list[str]) -> None:
    for name in sorted(pids()):
        if name == "proxy" or (services and name.rsplit("-", 1)[0] not in services):
            continue
        for line in (STATE / f"{name}.log").read_text().splitlines():
            print(f"{name}  | {line}")


def down() -> None:
    for pid in pids().values():
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in pids().values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    if argv[:1] == ["proxy"]:
        proxy(int(argv[1]), [int(p) for p in argv[2:]])
        return 0
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "calls", "a") as calls:
        calls.write(json.dumps(argv) + "\n")
    assert argv[0] == "compose", argv
    args = argv[1:]
    while args and args[0] in ("--project-name", "--file"):
        args = args[2:]
    command, rest = args[0], args[1:]
    if command == "version":
        print("Docker Compose version v2 (stand-in)")
    elif command == "build":
        pass
    elif command == "up":
        return up()
    elif command == "ps":
        if "--format" in rest:
            rows = [{"Service": name.rsplit("-", 1)[0], "Health": "healthy"}
                    for name, pid in pids().items() if name.startswith("worker") and alive(pid)]  # fmt: skip
            print(json.dumps(rows))
        else:
            for name, pid in pids().items():
                print(name, "running" if alive(pid) else "exited")
    elif command == "exec":
        env = {**os.environ, "DATABASE_URL": os.environ["FAKE_DATABASE_URL"]}
        return subprocess.run([sys.executable, "-"], cwd=ROOT, env=env).returncode
    elif command == "logs":
        logs([a for a in rest if not a.startswith("-") and not a.isdigit()])
    elif command == "down":
        down()
    else:
        print(f"fake docker: {command} is not faked", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
