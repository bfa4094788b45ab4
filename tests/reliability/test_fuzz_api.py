"""Schemathesis over the app's own OpenAPI schema, every operation called with a valid token:
no input gets a 5xx, and every response matches the schema (status, content type, body).

It runs against a stack of its own (database, worker with no webhook relay, API process), so
that nothing it creates can ever be delivered anywhere.
"""

from __future__ import annotations

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

from store.db import open_pool
from tests.factories import Factory
from tests.reliability.harness import record_figures, start_app_stack

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_TOKEN = "fuzz-operator-token"
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
async def fuzz_stack(postgres_server_url, dev_env, tmp_path_factory):
    stack = await start_app_stack(
        postgres_server_url,
        dev_env.client.service_client.config.target_host,
        tmp_path_factory.mktemp("fuzz"),
        operator_token=OPERATOR_TOKEN,
    )
    pool = await open_pool(stack.database_url, max_size=2)
    world = await Factory(pool).world()
    await pool.close()
    yield {"url": stack.url, "partner_admin": world.partner_admin}
    stack.stop()


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
