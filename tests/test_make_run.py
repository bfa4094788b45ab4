"""`make run`'s stack from a clean data directory: it comes up on embedded PostgreSQL and the
Temporal dev server, the README walkthrough works as written against it, Ctrl-C stops every
process it started, and a second run keeps the data."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from devstack import services
from domain.types import RequestKind, workflow_id_for
from tests.processes import json_log_lines
from workflows.versions import code_build_id

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


_RUNS: list[Run] = []


@pytest.fixture(autouse=True)
def _no_stack_outlives_its_test():
    """A test that fails half-way (or a stack that does not stop) leaves no process behind to hold
    ports and CPU for the rest of the suite: whatever is left of each run is killed, children
    first."""
    yield
    while _RUNS:
        _RUNS.pop().kill_what_is_left()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Run:
    """`make run` on ports chosen free (API, Temporal, UI, worker metrics), so that it runs beside
    a developer's own `make run`."""

    def kill_what_is_left(self) -> None:
        if self.proc.poll() is not None:  # it stopped, and stopped what it started
            return
        for pid in [*reversed(_descendants(self.proc.pid)), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def __init__(self, data_dir: Path, ports: list[int]):
        api_port, temporal_port, ui_port, metrics_port = ports
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
        env["ASSOCFLOW_API_PORT"] = str(api_port)
        env["ASSOCFLOW_WORKER_METRICS_ADDRESS"] = f"127.0.0.1:{metrics_port}"
        env["ASSOCFLOW_DEV_TEMPORAL_PORT"] = str(temporal_port)
        env["ASSOCFLOW_DEV_UI_PORT"] = str(ui_port)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run", "--data-dir", str(data_dir)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.output: list[str] = []
        _RUNS.append(self)

    def wait_until_up(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            if "Press Ctrl-C to stop" in line:
                return "".join(self.output)
        raise AssertionError("make run did not come up:\n" + "".join(self.output))

    def wait_for(self, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            if needle in line:
                return line
        raise AssertionError(f"make run never said {needle!r}:\n" + "".join(self.output))

    def interrupt(self, how: signal.Signals = signal.SIGINT) -> int:
        self.proc.send_signal(how)
        return self.proc.wait(timeout=60)


def tokens_in(banner: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+_TOKEN)=(\S+)", banner, re.MULTILINE))


DEMO_PEOPLE = (
    "CONTOSO_ADMIN", "CONTOSO_READER", "CONTOSO_SUBMITTER", "CONTOSO_PROCESSOR",
    "NORTHWIND_ADMIN", "FABRIKAM", "TAILSPIN", "LITWARE",
)  # fmt: skip


def sign_ins_in(banner: str) -> dict[str, str]:
    """The console's sign-ins the banner prints: email -> password."""
    return dict(re.findall(r"^  (\S+@\S+)  +(\S+)    # ", banner, re.MULTILINE))


def sign_ins_in_env(data_dir: Path) -> dict[str, tuple[str, str]]:
    """demo.env's <NAME>_EMAIL and <NAME>_PASSWORD pairs: name -> (email, password)."""
    found = dict(re.findall(r"^export (\w+)=(\S+)$", (data_dir / "demo.env").read_text(), re.M))
    return {name: (found[f"{name}_EMAIL"], found[f"{name}_PASSWORD"]) for name in DEMO_PEOPLE}


def sign_in(database_url: str, email: str, password: str) -> bool:
    """Whether the console's sign-in (application/sessions.py) takes this email and password."""
    from application import sessions
    from application.errors import Failure
    from application.services import Services
    from assocflow.settings import Settings
    from store.db import open_pool

    async def attempt() -> bool:
        pool = await open_pool(database_url, min_size=1, max_size=1)
        try:  # signing in needs no Temporal and no standing
            svc = Services(pool, None, Settings(database_url=database_url), None)
            await sessions.sign_in(svc, email, password, client="make-run-test")
            return True
        except Failure:
            return False
        finally:
            await pool.close()

    return asyncio.run(attempt())


def readme_section(name: str) -> str:
    """The README's shell blocks between `<!-- name:start -->` and `<!-- name:end -->`, exactly
    as a user would paste them."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]
    return "\n".join(re.findall(r"```bash\n(.*?)```", section, re.DOTALL))


def paste(name: str, data_dir: Path) -> str:
    script = readme_section(name)
    assert "source .data/demo.env" in script
    script = script.replace("source .data/demo.env", f"source {data_dir}/demo.env")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_logs_are_json_with_ids_and_no_secrets(log_dir: Path, secrets: list[str]) -> None:
    """Both processes log one JSON object a line, with the ids an operator searches by, and never
    a token or a verification code."""
    for name in ("api", "worker"):
        text = (log_dir / f"{name}.log").read_text()
        for secret in secrets:
            assert secret not in text, f"a secret is in {name}.log"
        lines = json_log_lines(log_dir / f"{name}.log")
        assert lines and all({"timestamp", "level", "event"} <= set(line) for line in lines)
        if name == "api":
            requests = [line for line in lines if line["event"] == "request"]
            assert all(line["request_id"] and line["route"] for line in requests)
            assert any(line.get("caller", "").startswith("customer_user:") for line in requests)
            assert any(line.get("account", "").startswith("partner:") for line in requests)
        else:
            settled = [line for line in lines if line["event"] == "request settled"]
            assert {line["kind"] for line in settled} == {"disassociation", "type_change"}
            assert all(
                line["temporal_workflow"]["workflow_id"]
                == workflow_id_for(RequestKind(line["kind"]), UUID(line["request_id"]))
                and line["partner_id"]
                and line["customer_id"]
                for line in settled
            )


def test_make_run_serves_the_walkthrough_stops_cleanly_and_keeps_data(tmp_path):
    data_dir = tmp_path / "data"
    ports = services.free_ports(4)
    api = f"http://127.0.0.1:{ports[0]}"

    first = Run(data_dir, ports)
    try:
        banner = first.wait_until_up()
        # Each service says when it is up, in the order they start.
        said = re.findall(
            r"^assocflow: (.{10}) (?:ready|polling|up to date|in place)", banner, re.M
        )
        assert [service.strip() for service in said] == [
            "PostgreSQL", "Temporal", "schema", "demo data", "worker", "API",
        ], banner  # fmt: skip
        assert f"{api}/docs" in banner and f"http://127.0.0.1:{ports[2]}" in banner
        assert f"{api}/console/" in banner
        tokens = tokens_in(banner)
        assert {"OPERATOR_TOKEN", "CONTOSO_ADMIN_TOKEN", "FABRIKAM_TOKEN", "LITWARE_TOKEN"} <= set(
            tokens
        )
        # Every demo person signs in to the console; the banner and demo.env say how.
        people = sign_ins_in_env(data_dir)
        assert sign_ins_in(banner) == dict(people.values())
        assert people["CONTOSO_ADMIN"][0] == "admin@contoso.example"
        assert people["FABRIKAM"][0] == "it@fabrikam.example"
        passwords = [password for _, password in people.values()]
        assert len(set(passwords)) == 8 and all(len(p) >= 12 for p in passwords)
        database_url = re.search(
            r"^export DATABASE_URL='(.+)'$", (data_dir / "demo.env").read_text(), re.M
        ).group(1)
        assert sign_in(database_url, *people["CONTOSO_ADMIN"])
        assert sign_in(database_url, *people["LITWARE"])
        assert not sign_in(database_url, people["LITWARE"][0], people["FABRIKAM"][1])
        assert httpx.get(f"{api}/readyz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports[2]}/").status_code == 200  # the Temporal UI
        # The worker's build, derived from the workflow code, is the deployment's current version.
        assert f"build {code_build_id()} is current" in banner
        described = subprocess.run(
            [str(services.temporal_cli()), "worker", "deployment", "describe", "--name",
             "assocflow", "--address", f"127.0.0.1:{ports[1]}", "--output", "json"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        routing = json.loads(described)["routingConfig"]
        assert routing["currentVersionBuildID"] == code_build_id(), routing

        out = paste("walkthrough", data_dir)
        assert '"status":"agreed"' in out
        assert '"status":"rejected"' in out
        assert '"from_type":"referral","new_type":"resale"}' in out  # the agreed type change
        assert '"association_type":"resale"' in out  # Tailspin's type changed
        assert '"code":"check_failed"' in out
        last = paste("verification", data_dir).strip().splitlines()
        codes = ast.literal_eval(last[0])  # two of the processor's recovery codes, shown once
        assert len(codes) == 2 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
        assert '"verification_required":true' in last[1]
        assert '"code":"verification_required"' in last[2]
        assert '"status":"agreed"' in last[3]
        inbox = httpx.get(
            f"{api}/v1/notifications?limit=100",
            headers={"Authorization": f"Bearer {tokens['CONTOSO_READER_TOKEN']}"},
        ).text
        assert "otpauth" not in inbox and not any(code in inbox for code in codes)
        operated = paste("operating", data_dir)
        settled = json.loads(operated.strip().splitlines()[-1])
        listed = [line for line in operated.splitlines() if "disassociation-" in line]
        assert listed == [
            next(line for line in listed if settled["id"] in line)
        ]  # only it is pending
        assert "Total: 0" in operated  # no customer-initiated request is pending
        assert "Signal workflow succeeded" in operated
        assert settled["status"] == "rejected"
        assert settled["decided_by"] == "temporal_ui:alice (unverified)"  # a name typed in the UI
    finally:
        code = first.interrupt()
    assert first.proc.stdout is not None
    assert "killed" not in first.proc.stdout.read()  # every process stopped on its own
    assert code == 0
    assert_logs_are_json_with_ids_and_no_secrets(
        data_dir / "logs", [*tokens.values(), *codes, *passwords, "otpauth://", "secret="]
    )
    for port in ports:
        assert services.port_is_free(port)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()

    second = Run(data_dir, ports)
    try:
        banner = second.wait_until_up()
        assert tokens_in(banner) == tokens  # the same data, the same demo tokens
        assert sign_ins_in_env(data_dir) == people  # and the same passwords
        assert sign_ins_in(banner) == dict(people.values())
        fabrikam = httpx.get(
            f"{api}/v1/associations/00000000-0000-4000-8000-000000000401",
            headers={"Authorization": f"Bearer {tokens['FABRIKAM_TOKEN']}"},
        )
        assert fabrikam.json()["status"] == "ended"  # ended by the walkthrough, still ended
    finally:
        assert second.interrupt(signal.SIGTERM) == 0  # as a process manager stops it
    assert_logs_are_json_with_ids_and_no_secrets(
        data_dir / "logs", [*tokens.values(), *codes, *passwords, "otpauth://", "secret="]
    )
    for port in ports:
        assert services.port_is_free(port)


@pytest.mark.parametrize("busy", ["API", "Temporal", "metrics"])
def test_a_busy_port_is_named_before_anything_starts(tmp_path, busy):
    ports = services.free_ports(4)
    taken = ports[["API", "Temporal", "UI", "metrics"].index(busy)]
    variable = {
        "API": "ASSOCFLOW_API_PORT",
        "Temporal": "ASSOCFLOW_DEV_TEMPORAL_PORT",
        "metrics": "ASSOCFLOW_WORKER_METRICS_ADDRESS",
    }[busy]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        run = Run(tmp_path / "data", ports)
        assert run.proc.wait(timeout=30) == 1
    assert run.proc.stdout is not None
    said = run.proc.stdout.read()
    assert f"port {taken}" in said and variable in said, said
    assert not (tmp_path / "data" / "postgres").exists()  # nothing was started


def test_ctrl_c_during_start_up_stops_at_once(tmp_path):
    ports = services.free_ports(4)
    run = Run(tmp_path / "data", ports)
    try:
        run.wait_for("Temporal   starting")
    finally:
        started = time.monotonic()
        code = run.interrupt()
    assert run.proc.stdout is not None
    said = "".join(run.output) + run.proc.stdout.read()
    assert code == 0 and time.monotonic() - started < 15, said
    assert "killed" not in said  # every process stopped on its own
    for port in ports:
        assert services.port_is_free(port)
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
