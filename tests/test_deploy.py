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
# The Temporal frontend and UI take calls without a credential unless TLS or OIDC is configured:
# they listen on this host only unless their variable opens them (README: Operating).
TEMPORAL_BINDS = {"temporal": "TEMPORAL_FRONTEND_BIND", "temporal-ui": "TEMPORAL_UI_BIND"}
EVERYWHERE = "0.0.0.0"  # noqa: S104 (what the tests look for, not an address to bind)
PUBLIC = {"proxy"}  # the only service published on every interface: the API's entry point
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
        "proxy",
    }
    images = {name: service.get("image", "") for name, service in stack.items()}
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert not any("auto-setup" in image for image in images.values())
    assert stack["temporal-schema"]["command"] == ["/deploy/setup-schema.sh"]
    assert stack["temporal-setup"]["command"] == ["/deploy/setup-namespace.sh"]
    for name in ("postgres", "api", "worker"):
        assert stack[name]["healthcheck"]["test"], name
    for name in ("api", "worker"):
        assert (
            stack[name]["build"]
            and stack[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        )
        env = stack[name]["environment"]
        # The password goes in PGPASSWORD, never into the URL (any character works).
        assert env["DATABASE_URL"] == "postgresql://assocflow@postgres:5432/assocflow"
        assert env["PGPASSWORD"] == "app"
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


def host_ips(service: dict) -> list[str]:
    """The host address of each port a service publishes, in any form `docker-compose config`
    writes it (v1: "ip:published:target/tcp" or a mapping; v2: a mapping with host_ip);
    an empty address is every interface."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append(port.get("host_ip") or EVERYWHERE)
        else:
            parts = str(port).split("/")[0].rsplit(":", 2)
            found.append(parts[0] if len(parts) == 3 and parts[0] else EVERYWHERE)
    return found


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` (the only form the Temporal ports use)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), text)


def test_temporal_listens_on_this_host_unless_opened_on_purpose():
    """Checked in the compose file's text, so that it holds where docker-compose is missing."""
    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, variable in TEMPORAL_BINDS.items():
        ports = stack[name]["ports"]
        assert ports and all(p.startswith(f"${{{variable}:-127.0.0.1}}:") for p in ports), ports
        for env, address in (({}, "127.0.0.1"), ({variable: ""}, "127.0.0.1"),
                             ({variable: EVERYWHERE}, EVERYWHERE)):  # fmt: skip
            opened = {"ports": [interpolate(p, env) for p in ports]}
            assert host_ips(opened) == [address] * len(ports), (name, env)
    for name, service in stack.items():  # nothing else is published beyond this host either
        if name not in PUBLIC:
            closed = {"ports": [interpolate(p, {}) for p in service.get("ports", [])]}
            assert set(host_ips(closed)) <= {"127.0.0.1"}, name


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_temporal_ports_as_compose_resolves_them():
    closed = yaml.safe_load(config(**REQUIRED).stdout)["services"]
    for name, service in closed.items():
        if name not in PUBLIC:
            assert set(host_ips(service)) <= {"127.0.0.1"}, (name, service.get("ports"))
    for name in TEMPORAL_BINDS:
        assert host_ips(closed[name]) == ["127.0.0.1"], name

    opened = config(**REQUIRED, **dict.fromkeys(TEMPORAL_BINDS.values(), EVERYWHERE))
    assert opened.returncode == 0, opened.stderr
    stack = yaml.safe_load(opened.stdout)["services"]
    for name in TEMPORAL_BINDS:
        assert host_ips(stack[name]) == [EVERYWHERE], name

    one = yaml.safe_load(config(**REQUIRED, TEMPORAL_UI_BIND=EVERYWHERE).stdout)["services"]
    assert (host_ips(one["temporal-ui"]), host_ips(one["temporal"])) == (
        [EVERYWHERE], ["127.0.0.1"],
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


def raw_stack() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_api_and_workers_scale_behind_one_entry_point():
    """`--scale api=3 --scale worker=3` (or the replicas variables): no replica has a host port of
    its own, and the proxy reaches every replica of `api` on the port the API listens on."""
    done = config(**REQUIRED, ASSOCFLOW_API_REPLICAS="3", ASSOCFLOW_WORKER_REPLICAS="3")
    assert done.returncode == 0, done.stderr
    stack = yaml.safe_load(done.stdout)["services"]
    assert stack["api"]["deploy"]["replicas"] == stack["worker"]["deploy"]["replicas"] == 3
    assert "ports" not in stack["api"] and "ports" not in stack["worker"]
    assert host_ips(stack["proxy"]) == [EVERYWHERE]
    assert stack["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"
    caddyfile = (ROOT / "deploy/caddy/Caddyfile").read_text()
    api_port = stack["api"]["environment"]["ASSOCFLOW_API_PORT"]
    assert re.search(rf"dynamic a \{{\s*name api\s*port {api_port}\s", caddyfile), caddyfile
    # Every replica is one of several: none may publish a fixed port (they would clash).
    for name, service in raw_stack().items():
        if "replicas" in str(service.get("deploy", {})):
            assert not service.get("ports"), name


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_one_version_for_the_temporal_server_and_admin_tools():
    for env in ({}, {"TEMPORAL_VERSION": "1.31.2"}):
        stack = yaml.safe_load(config(**REQUIRED, **env).stdout)["services"]
        tags = {
            name: stack[name]["image"].rsplit(":", 1)[1]
            for name in ("temporal", "temporal-schema", "temporal-setup")
        }
        assert len(set(tags.values())) == 1, tags
        assert env.get("TEMPORAL_VERSION", tags["temporal"]) == tags["temporal"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "ADMIN_TOOLS_VERSION" not in text


def test_first_boot_waits_over_tcp_and_jobs_give_up_clearly():
    stack = raw_stack()
    # pg_isready over TCP: the image's init scripts run on a server that listens on the socket only.
    assert "--host=127.0.0.1" in stack["postgres"]["healthcheck"]["test"]
    assert stack["temporal"]["healthcheck"]["test"] == ["CMD", "nc", "-z", "127.0.0.1", "7233"]
    conditions = {
        ("temporal-schema", "postgres"): "service_healthy",
        ("temporal", "temporal-schema"): "service_completed_successfully",
        ("temporal-setup", "temporal"): "service_healthy",
        ("temporal-ui", "temporal"): "service_healthy",
        ("api", "temporal-setup"): "service_completed_successfully",
        ("worker", "postgres"): "service_healthy",
    }
    for (name, dependency), condition in conditions.items():
        assert stack[name]["depends_on"][dependency]["condition"] == condition, (name, dependency)
    for job in ("temporal-schema", "temporal-setup"):
        assert stack[job]["restart"] == "no"  # bounded inside: a restart loop would hide failure
        assert int(stack[job]["environment"]["SETUP_ATTEMPTS"]) > 0
    for name, service in stack.items():
        if name not in ("temporal-schema", "temporal-setup", "temporal-ui", "proxy"):
            assert service.get("healthcheck", {}).get("test"), name


def test_history_shards_are_set_once_and_documented():
    env = raw_stack()["temporal"]["environment"]
    assert env["NUM_HISTORY_SHARDS"] == "512"  # a literal: no variable invites changing it
    deploy_doc = (ROOT / "docs/DEPLOY.md").read_text()
    assert "NUM_HISTORY_SHARDS" in deploy_doc and "512" in deploy_doc


# Keys of the server's dynamic config that assocflow may set: each is read by server 1.32
# (common/dynamicconfig/constants.go). frontend.enableExecuteMultiOperation was removed in 1.30.
SERVER_READS = {"frontend.enableUpdateWorkflowExecution"}
SERVER_DROPPED = {"frontend.enableExecuteMultiOperation"}


def test_dynamic_config_holds_only_keys_the_server_reads():
    stack = raw_stack()
    path = stack["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    mount = next(v for v in stack["temporal"]["volumes"] if "dynamicconfig" in v)
    source, target = mount.split(":")[:2]
    assert path.startswith(target + "/")
    config_file = ROOT / source / path.removeprefix(target + "/")
    keys = set(yaml.safe_load(config_file.read_text()))
    assert keys and keys <= SERVER_READS, keys - SERVER_READS
    assert not keys & SERVER_DROPPED


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_passwords_with_any_character_stay_out_of_urls():
    """Each password reaches its container exactly as given (no `$` or quote is interpreted) and
    never inside a URL."""
    nasty = {
        "POSTGRES_PASSWORD": "p@ss:/w%rd'\"$HOME\\",
        "ASSOCFLOW_DB_PASSWORD": "a@b:c/d%25e'f\"g\\h$$i",
        "TEMPORAL_DB_PASSWORD": "t@:/%'\"\\x",
    }
    done = config(**{**REQUIRED, **nasty})
    assert done.returncode == 0, done.stderr
    stack = yaml.safe_load(done.stdout)["services"]

    def env(service: str, name: str) -> str:
        value: str = stack[service]["environment"][name]
        return value.replace("$$", "$")  # `config` writes a compose file: `$` escaped as `$$`

    for name in ("api", "worker"):
        assert env(name, "PGPASSWORD") == nasty["ASSOCFLOW_DB_PASSWORD"]
        assert env(name, "DATABASE_URL") == "postgresql://assocflow@postgres:5432/assocflow"
    assert env("temporal", "TEMPORAL_DB_PASSWORD") == nasty["TEMPORAL_DB_PASSWORD"]
    assert env("temporal-schema", "SQL_PASSWORD") == nasty["TEMPORAL_DB_PASSWORD"]
    assert env("postgres", "ASSOCFLOW_DB_PASSWORD") == nasty["ASSOCFLOW_DB_PASSWORD"]
    assert env("postgres", "POSTGRES_PASSWORD") == nasty["POSTGRES_PASSWORD"]
