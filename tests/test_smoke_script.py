"""deploy/smoke.sh, run here with a stand-in for `docker compose` (tests/fake_docker.py) that
starts real assocflow processes: two workers, two APIs behind a round-robin proxy on the port
the script publishes. The script's own steps all run for real: secrets full of quotes, the demo
data, the README walkthrough through the proxy, its checks, and the teardown, also when the
stack fails to come up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack import services

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.devserver, pytest.mark.timeout(240)]


def fake_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT}/tests/fake_docker.py" "$@"\n')
    docker.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def run_smoke(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "deploy/smoke.sh")],
        cwd=tmp_path,  # the script finds the repository itself
        env={**os.environ, "PATH": fake_path(tmp_path), "FAKE_DOCKER_STATE": str(tmp_path / "state"),
             **env},
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip


def calls(tmp_path: Path) -> list[list[str]]:
    lines = (tmp_path / "state" / "calls").read_text().splitlines()
    return [json.loads(line)[1:] for line in lines]


def all_stopped(tmp_path: Path) -> bool:
    pids = tmp_path / "state" / "pids"
    for line in pids.read_text().splitlines() if pids.exists() else []:
        pid = int(line.split()[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        os.kill(pid, 9)  # do not leave it behind, but the script should have stopped it
        return False
    return True


def test_smoke_script_runs_the_walkthrough_through_two_replicas_and_tears_down(
    tmp_path, dev_env, postgres_server_url
):
    name = f"assocflow_smoke_{uuid.uuid4().hex[:8]}"
    database_url = services.ensure_database(postgres_server_url, name)
    try:
        done = run_smoke(
            tmp_path,
            FAKE_DATABASE_URL=database_url,
            FAKE_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        )
        stopped = all_stopped(tmp_path)
    finally:
        services.drop_database(postgres_server_url, name)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    for said in (
        "Fabrikam's association (agreed): ended",
        "Tailspin's association (rejected): active",
        "Litware's association (check failed): active",
        "API replicas that served requests: 2",
        "reconciler schedules created: 1",
        "passed in",
    ):
        assert f"smoke: {said}" in done.stderr, said
    assert '"code":"check_failed"' in done.stdout.replace(" ", "")  # Litware's refusal, printed
    made = calls(tmp_path)
    up = next(call for call in made if "up" in call)
    assert up[-5:] == ["up", "--detach", "--scale", "api=2", "--scale", "worker=2"][-5:]
    assert made[-1][-3:] == ["down", "--volumes", "--remove-orphans"]
    assert stopped


def test_smoke_script_fails_loudly_and_still_tears_down(tmp_path):
    done = run_smoke(tmp_path, FAKE_UP_FAILS="1")
    assert done.returncode != 0
    assert "temporal-schema" in done.stderr and "smoke: FAILED" in done.stderr
    made = calls(tmp_path)
    assert made[-3][-2:] == ["ps", "--all"] and made[-1][-3:] == [
        "down",
        "--volumes",
        "--remove-orphans",
    ]
