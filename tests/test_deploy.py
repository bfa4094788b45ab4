"""The production-like stack: the compose file is valid and complete (checked with
`docker-compose config`, which needs no Docker engine), and the Dockerfile copies what exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {
    "ASSOCFLOW_OPERATOR_TOKEN": "operator-token",
    "ASSOCFLOW_ENCRYPTION_KEY": "key",
    "POSTGRES_PASSWORD": "pg",
    "ASSOCFLOW_DB_PASSWORD": "app",
    "TEMPORAL_DB_PASSWORD": "temporal",
}
COMPOSE = shutil.which("docker-compose")
DEV_ONLY = {"tests", "bench"}  # packages the image leaves out (see .dockerignore)


def config(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in REQUIRED and not k.startswith("TEMPORAL_")
    }
    return subprocess.run(
        [COMPOSE, "-f", "docker-compose.yml", "config"], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (make test installs it where it can)"
)
def test_compose_file_is_valid_and_production_like():
    done = config(**REQUIRED)
    assert done.returncode == 0, done.stderr
    stack = yaml.safe_load(done.stdout)["services"]
    assert set(stack) == {
        "postgres",
        "temporal-schema",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "worker",
        "api",
    }
    images = {name: service.get("image", "") for name, service in stack.items()}
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert not any("auto-setup" in image for image in images.values())
    assert "temporal-sql-tool" in " ".join(stack["temporal-schema"]["command"])
    assert "RespondBy:Datetime" in " ".join(stack["temporal-setup"]["command"])
    for name in ("postgres", "api", "worker"):
        assert stack[name]["healthcheck"]["test"], name
    for name in ("api", "worker"):
        assert (
            stack[name]["build"]
            and stack[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        )
        env = stack[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://assocflow:app@postgres")
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env.get("TEMPORAL_API_KEY") is None  # passed through only when set


def test_secrets_must_be_given():
    if COMPOSE is None:
        pytest.skip("docker-compose is not installed")
    for missing in REQUIRED:
        done = config(**{k: v for k, v in REQUIRED.items() if k != missing})
        assert done.returncode != 0 and missing in done.stderr


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_a_remote_cluster_is_configured_by_environment():
    done = config(
        **REQUIRED,
        TEMPORAL_ADDRESS="ns.acct.tmprl.cloud:7233",
        TEMPORAL_NAMESPACE="ns.acct",
        TEMPORAL_API_KEY="k",
    )
    env = yaml.safe_load(done.stdout)["services"]["worker"]["environment"]
    assert (env["TEMPORAL_ADDRESS"], env["TEMPORAL_NAMESPACE"], env["TEMPORAL_API_KEY"]) == (
        "ns.acct.tmprl.cloud:7233", "ns.acct", "k",
    )  # fmt: skip


def test_dockerfile_copies_the_project():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = [
        src
        for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE)
        for src in line.split()[:-1]
    ]
    assert copied and all((ROOT / src).exists() for src in copied)
    packages = {
        p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in DEV_ONLY
    }
    assert packages <= set(copied), packages - set(copied)
