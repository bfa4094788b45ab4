"""Schemathesis over the app's own OpenAPI schema, every operation called with a valid token:
no input gets a 5xx, and every response matches the schema (status, content type, body).

It runs against a stack of its own (database, worker with no webhook relay, API process), so
that nothing it creates can ever be delivered anywhere. The operations on requests of each kind
(disassociations, type changes, partner changes) are sent ids that exist, so that their inputs
reach the request: a submit or a check names an association of its own (a partner change's, the
partner to move to), and each operation on one request is sent a request of its own, pending when
the fuzzing starts, by the party it is for: the partner admin decides on a customer's
disassociation or type change and withdraws its own; a partner change's current partner agrees or
rejects, its new partner accepts or declines, its customer asks, checks and withdraws; operators
call the admin routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.types import RequestKind
from store.db import open_pool
from tests.factories import Factory, World
from tests.reliability.harness import PATHS, record_figures, start_app_stack, submit

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_TOKEN = "fuzz-operator-token"
EXAMPLES_PER_OPERATION = 25


# Each operation on one request (its path, `{p}` the kind's), and who asks for the request it is
# sent: the partner admin (the caller) decides on a customer's request and withdraws its own.
ON_ONE_REQUEST = {
    "/v1/{p}/{{request_id}}/agree": "customer",
    "/v1/{p}/{{request_id}}/reject": "customer",
    "/v1/{p}/{{request_id}}/withdraw": "partner",
    "/v1/admin/{p}/{{request_id}}/agree": "customer",
    "/v1/admin/{p}/{{request_id}}/reject": "customer",
    "/v1/admin/{p}/{{request_id}}/cancel": "customer",
}
READ_ONE = "/v1/{p}/{{request_id}}"  # sent the request the first of them is sent
# Each operation on one partner change, and who sends it: the partner to move from, the partner
# to move to, the customer, an operator. Each is sent a partner change of its own.
ON_ONE_MOVE = {
    "/v1/partner-changes/{request_id}/agree": "current",
    "/v1/partner-changes/{request_id}/reject": "current",
    "/v1/partner-changes/{request_id}/accept": "new",
    "/v1/partner-changes/{request_id}/decline": "new",
    "/v1/partner-changes/{request_id}/withdraw": "customer",
    "/v1/admin/partner-changes/{request_id}/cancel": "operator",
}
# Asked for (and checked) only by a customer, a partner change's submit and check are sent by
# the customer of an association of their own.
MOVE_ASKING = ("/v1/partner-changes", "/v1/partner-change-checks")


async def seed_requests(
    api: httpx.AsyncClient, factory: Factory, world: World, new_partner: tuple[UUID, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """A pending request for each operation on one request, of its kind, each with a customer of
    its own of the world's partner: ({operation's path: request id}, {operation's path: the
    token it is sent with, where that is not the partner admin's or an operator's})."""
    seeded: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for kind, path in PATHS.items():
        if kind is RequestKind.PARTNER_CHANGE:
            continue
        p = path.removeprefix("/v1/")
        for operation, asker in ON_ONE_REQUEST.items():
            customer_id, customer = await factory.customer()
            association_id = await factory.association(world.partner_id, customer_id)
            token = customer if asker == "customer" else world.partner_admin
            asked = await submit(api, kind, token, association_id)
            assert asked.status_code == 201, asked.text
            seeded[operation.format(p=p)] = asked.json()["id"]
            if operation == next(iter(ON_ONE_REQUEST)):
                seeded[READ_ONE.format(p=p)] = asked.json()["id"]
    new_partner_id, new_partner_admin = new_partner
    for operation, sender in ON_ONE_MOVE.items():
        customer_id, customer = await factory.customer()
        association_id = await factory.association(world.partner_id, customer_id)
        kind = RequestKind.PARTNER_CHANGE
        asked = await submit(api, kind, customer, association_id, new_partner_id)
        assert asked.status_code == 201, asked.text
        seeded[operation] = asked.json()["id"]
        if sender in ("new", "customer"):
            tokens[operation] = new_partner_admin if sender == "new" else customer
        if operation == next(iter(ON_ONE_MOVE)):
            seeded[READ_ONE.format(p=kind.slug + "s")] = asked.json()["id"]
    return seeded, tokens


@pytest.fixture(scope="module")
async def fuzz_stack(postgres_server_url, dev_env, tmp_path_factory):
    stack = await start_app_stack(
        postgres_server_url,
        dev_env.client.service_client.config.target_host,
        tmp_path_factory.mktemp("fuzz"),
        operator_token=OPERATOR_TOKEN,
    )
    pool = await open_pool(stack.database_url, max_size=2)
    factory = Factory(pool)
    world = await factory.world()
    asked_to_change = await factory.association(world.partner_id, (await factory.customer())[0])
    moving, moving_token = await factory.customer()
    asked_to_move = await factory.association(world.partner_id, moving)
    new_partner = await factory.partner()
    _, new_partner_admin = await factory.user(new_partner, ["admin"])
    async with httpx.AsyncClient(base_url=stack.url, timeout=40) as api:
        requests, tokens = await seed_requests(
            api, factory, world, (new_partner, new_partner_admin)
        )
    await pool.close()
    yield {
        "url": stack.url,
        "partner_admin": world.partner_admin,
        # Each kind's submits and checks are about an association of their own, so that neither
        # kind's pending request refuses all of the others'.
        "associations": {
            RequestKind.DISASSOCIATION: str(world.association_id),
            RequestKind.TYPE_CHANGE: str(asked_to_change),
            RequestKind.PARTNER_CHANGE: str(asked_to_move),
        },
        "new_partner_id": str(new_partner),
        "requests": requests,
        "tokens": tokens | dict.fromkeys(MOVE_ASKING, moving_token),
    }
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


# The operations whose body names an association to ask about: a check and a submit, each kind's.
ASKING = {f"/v1/{kind.slug}-checks": kind for kind in RequestKind} | {
    path: kind for kind, path in PATHS.items()
}


def _strategy(operation: Any, fuzz_stack: dict[str, Any]) -> Any:
    """The operation's inputs, with the ids seeded for it in place of generated ones."""
    request_id = fuzz_stack["requests"].get(operation.path)
    strategy = operation.as_strategy(
        path_parameters={"request_id": request_id} if request_id else None
    )
    if operation.method.upper() != "POST" or operation.path not in ASKING:
        return strategy

    kind = ASKING[operation.path]
    about = {"association_id": fuzz_stack["associations"][kind]}
    if kind is RequestKind.PARTNER_CHANGE:  # a move to a partner that exists
        about["new_partner_id"] = fuzz_stack["new_partner_id"]

    def about_the_association(case: Any) -> Any:
        if isinstance(case.body, dict):
            case.body = {**case.body, **about}
        return case

    return strategy.map(about_the_association)


def _fuzz(operation, fuzz_stack: dict[str, Any], token: str, statuses: dict[int, int]) -> None:
    @hypothesis.given(case=_strategy(operation, fuzz_stack))
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
    driven by hypothesis): collect every failing check, then report them all. Each operation on
    one request reached its request (never a 404), and every operation of every kind was run."""
    statuses: dict[int, int] = {}
    by_operation: dict[str, dict[int, int]] = {}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        token = fuzz_stack["tokens"].get(
            operation.path,
            OPERATOR_TOKEN
            if operation.path.startswith("/v1/admin")
            else fuzz_stack["partner_admin"],
        )
        answered = by_operation.setdefault(f"{operation.method.upper()} {operation.path}", {})
        try:
            _fuzz(operation, fuzz_stack, token, answered)
        except Exception as failure:  # keep going: one report for every operation
            failures.append(f"{operation.label}: {failure}")
        for status, n in answered.items():
            statuses[status] = statuses.get(status, 0) + n
    calls = sum(statuses.values())
    on_requests = {
        label: dict(sorted(answered.items()))
        for label, answered in by_operation.items()
        if any(kind.slug in label for kind in RequestKind)
    }
    record_figures(
        "schemathesis", operations=len(operations), inputs_tried=calls,
        statuses={str(k): v for k, v in sorted(statuses.items())}, failures=len(failures),
        operations_on_requests=on_requests,
    )  # fmt: skip
    assert not failures, "\n\n".join(failures)
    # Every operation on requests of each kind is in the schema and was run.
    for path in {*fuzz_stack["requests"], *ASKING}:
        assert any(
            label.endswith(f" {path}") and answered for label, answered in by_operation.items()
        ), path
    unreached = {
        label: answered
        for label, answered in by_operation.items()
        if label.split(" ", 1)[1] in fuzz_stack["requests"] and 404 in answered
    }
    assert not unreached, unreached
    # Each decision was sent by the party it is for: one of its inputs was taken (200), none
    # refused as another party's (403).
    untaken = {
        label: answered
        for label, answered in by_operation.items()
        if label.startswith("POST ")
        and label.split(" ", 1)[1] in fuzz_stack["requests"]
        and (200 not in answered or 403 in answered)
    }
    assert not untaken, untaken
