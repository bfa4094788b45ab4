"""Schemathesis over the app's own OpenAPI schema, every operation called with a valid token:
no input gets a 5xx, and every response matches the schema (status, content type, body).

It runs against a stack of its own (database, worker with no webhook relay, API process), so
that nothing it creates can ever be delivered anywhere.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack import services
from store.db import migrate, open_pool
from tests.conftest import ENCRYPTION_KEY
from tests.factories import Factory
from tests.reliability.harness import record_figures

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_TOKEN = "fuzz-operator-token"
EXAMPLES_PER_OPERATION = 25


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.fixture(scope="module")
async def fuzz_stack(postgres_server_url, dev_env, tmp_path_factory):
    name = f"assocflow_fuzz_{uuid.uuid4().hex[:8]}"
    database_url = services.ensure_database(postgres_server_url, name)
    await migrate(database_url)
    pool = await open_pool(database_url, max_size=2)
    world = await Factory(pool).world()
    await pool.close()
    port, queue = services.free_port(), f"fuzz-{uuid.uuid4().hex[:8]}"
    env = services.child_env(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        ASSOCFLOW_TASK_QUEUE=queue,
        ASSOCFLOW_API_PORT=str(port),
        ASSOCFLOW_OPERATOR_TOKEN=OPERATOR_TOKEN,
        ASSOCFLOW_ENCRYPTION_KEY=ENCRYPTION_KEY,
        ASSOCFLOW_WEBHOOK_RELAY="false",
        ASSOCFLOW_WORKER_METRICS_ADDRESS="",
        ASSOCFLOW_RATE_LIMIT_SUBMIT="100000/minute",
        ASSOCFLOW_RATE_LIMIT_VERIFICATION="100000/minute",
    )
    logs = tmp_path_factory.mktemp("fuzz")
    procs = [
        _start(args, env, logs / f"{name}.log")
        for name, args in (("worker", ["worker.py"]), ("api", ["-m", "api"]))
    ]
    services.wait_for_port("127.0.0.1", port, timeout=60, process=procs[1])
    yield {"url": f"http://127.0.0.1:{port}", "partner_admin": world.partner_admin}
    for proc in procs:
        services.stop(proc)
    services.drop_database(postgres_server_url, name)


@pytest.fixture(scope="module")
def api_schema(fuzz_stack):
    return schemathesis.openapi.from_url(f"{fuzz_stack['url']}/openapi.json")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(operation, token: str, statuses: dict[int, int]) -> None:
    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )  # fmt: skip
    def call(case):
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    call()


def test_no_input_breaks_the_api(api_schema, fuzz_stack):
    """Every operation, EXAMPLES_PER_OPERATION generated inputs each (schemathesis's strategies
    driven by hypothesis): collect every failing check, then report them all."""
    statuses: dict[int, int] = {}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        token = (
            OPERATOR_TOKEN
            if operation.path.startswith("/v1/admin")
            else fuzz_stack["partner_admin"]
        )
        try:
            _fuzz(operation, token, statuses)
        except Exception as failure:  # keep going: one report for every operation
            failures.append(f"{operation.label}: {failure}")
    calls = sum(statuses.values())
    record_figures(
        "schemathesis", operations=len(operations), inputs_tried=calls,
        statuses={str(k): v for k, v in sorted(statuses.items())}, failures=len(failures),
    )  # fmt: skip
    assert not failures, "\n\n".join(failures)
