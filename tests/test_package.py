"""assocflow installs whole: the wheel, installed (not editable) with its dependencies in a fresh
virtual environment, runs the API, the worker and the CLI from a directory outside the
repository, where nothing of the checkout is importable, and carries a request through its
lifecycle."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from devstack import services
from tests.processes import WORKER_READY, json_log_lines

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.devserver, pytest.mark.timeout(300)]


def _sources(dest: Path) -> Path:
    """The files a clone has (tracked, or new and not ignored), copied: building in the checkout
    would leave build/ and *.egg-info behind."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _run(args: list[str], **kwargs: object) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the assocflow wheel and its dependencies; returns its bin/."""
    work = tmp_path_factory.mktemp("package")
    source = _sources(work / "source")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ]
    )
    (wheel,) = (work / "dist").glob("assocflow-*.whl")
    _run([sys.executable, "-m", "venv", str(work / "venv")])
    _run([str(work / "venv" / "bin" / "pip"), "install", "-q", str(wheel)])
    return work / "venv" / "bin"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def test_every_package_is_in_the_wheel_and_imports_from_it(installed, tmp_path):
    out = _run(
        [str(installed / "python"), "-c",
         "import activities, api.routers, server.app, assocflow.process, cli.main, contract, domain,"
         " store.db, webhooks.relay, worker, workflows.request, devstack.seed,"
         " console.pages.records\n"
         "import importlib.resources as r\n"
         "print(server.app.__file__, worker.__file__, webhooks.relay.__file__)\n"
         "print(sorted(p.name for p in r.files('store.migrations').iterdir() if p.name.endswith('.sql')))\n"
         "print(sorted(p.name for p in r.files('assocflow').joinpath('locale/zh_Hans/LC_MESSAGES').iterdir()))"],
        cwd=tmp_path, env=_clean_env(),
    )  # fmt: skip
    files, migrations, catalogues = out.splitlines()
    assert all(path.startswith(str(installed.parent)) for path in files.split())
    assert migrations.startswith("['0001_")
    # The compiled catalogues are built with the wheel (setup.py), never taken from git.
    assert catalogues == str(["assocflow.mo", "assocflow.po", "console.mo", "console.po"])


def test_the_installed_api_worker_and_cli_run_a_request(
    installed, dev_env, postgres_server_url, tmp_path
):
    database_url = services.ensure_database(postgres_server_url, f"package_{uuid.uuid4().hex[:8]}")
    port = services.free_port()
    api = f"http://127.0.0.1:{port}"
    env = _clean_env(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        ASSOCFLOW_TASK_QUEUE=f"package-{uuid.uuid4().hex[:8]}",
        ASSOCFLOW_API_PORT=str(port),
        ASSOCFLOW_WORKER_METRICS_ADDRESS=f"127.0.0.1:{services.free_port()}",
    )
    cli = str(installed / "assocflow")
    assert "0001_core.sql" in _run([cli, "migrate"], cwd=tmp_path, env=env)  # a fresh database
    token = _run(
        [cli, "tokens", "create", "--subject-kind", "operator", "--subject-id", "packaged"],
        cwd=tmp_path, env=env,
    ).strip()  # fmt: skip
    processes = {
        name: services.spawn([cli, name], tmp_path / f"{name}.log", env=env, cwd=tmp_path)
        for name in ("worker", "api")
    }
    try:
        services.wait_for_log_line(
            tmp_path / "worker.log", WORKER_READY, timeout=60, process=processes["worker"]
        )
        services.wait_for_http(f"{api}/readyz", timeout=60, process=processes["api"])
        with httpx.Client(base_url=api, timeout=30) as http:
            walk_a_request(http, token)
            see_the_console(http)
        for proc in processes.values():
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(30) for proc in processes.values()] == [0, 0]
    finally:
        for proc in processes.values():
            services.stop(proc)
    for name in processes:
        assert json_log_lines(tmp_path / f"{name}.log")


def see_the_console(http: httpx.Client) -> None:
    """The console's templates and static files came with the wheel."""
    sign_in = http.get("/console/sign-in")
    assert sign_in.status_code == 200 and 'name="password"' in sign_in.text
    assert http.get("/console/static/htmx.min.js").status_code == 200
    assert http.get("/console/static/console.css").status_code == 200


def walk_a_request(http: httpx.Client, operator_token: str) -> None:
    """An operator sets up a partner and a customer; the customer asks to end the association
    and the partner agrees."""

    def call(method: str, path: str, token: str, **body: object) -> dict:
        response = http.request(
            method, path, json=body or None, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code < 300, response.text
        return response.json()

    def token_for(kind: str, subject: str) -> str:
        return call(
            "POST", "/v1/admin/tokens", operator_token, subject_kind=kind, subject_id=subject
        )["token"]

    partner = call(
        "POST", "/v1/admin/partners", operator_token, name="Packaged partner", type="reseller"
    )
    user = call(
        "POST",
        f"/v1/admin/partners/{partner['id']}/users",
        operator_token,
        name="Ops",
        email="ops@packaged.example",
        permissions=["admin"],
    )
    customer = call("POST", "/v1/admin/customers", operator_token, name="Packaged customer")
    association = call("POST", "/v1/admin/associations", operator_token,
                       partner_id=partner["id"], customer_id=customer["id"], association_type="resale")  # fmt: skip
    request = call("POST", "/v1/disassociations", token_for("customer_service", customer["id"]),
                   association_id=association["id"], reason="Moving on", acknowledged=True)  # fmt: skip
    assert request["status"] == "pending"
    agreed = call(
        "POST", f"/v1/disassociations/{request['id']}/agree", token_for("partner_user", user["id"])
    )
    assert agreed["status"] == "agreed"
