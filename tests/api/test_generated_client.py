"""A typed Python client generated from the live OpenAPI document (openapi-python-client, as a
partner would) drives the README's walkthrough: check, submit, agree, reject, a refused check,
and the records page by page. The schema is proven usable for code generation, not only valid."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from domain.types import AccountStanding
from server.app import create_app

pytestmark = pytest.mark.devserver

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "assocflow_client"


def generate_client(into: Path) -> None:
    """Generate the client package from the app's document into `into` (as `assocflow_client`)."""
    schema, config = into / "openapi.json", into / "config.yaml"
    schema.write_text(json.dumps(create_app().openapi()))
    # No post hooks: the generator would run ruff on the code it wrote.
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--config", str(config),
         "--meta", "none", "--output-path", str(into / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # The generator says what it could not generate (and generates the rest): nothing, here.
    assert "Warning" not in output and "Unable" not in output, output


@pytest.fixture(scope="module")
def client_package(tmp_path_factory):
    into = tmp_path_factory.mktemp("generated-client")
    generate_client(into)
    sys.path.insert(0, str(into))
    importlib.invalidate_caches()
    yield importlib.import_module(PACKAGE)
    sys.path.remove(str(into))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def client_for(package: ModuleType, api: httpx.AsyncClient, token: str):
    """The generated client, on the in-process API (its transport) with `token`."""
    client = package.AuthenticatedClient(base_url=str(api.base_url), token=token)
    client.set_async_httpx_client(
        httpx.AsyncClient(
            transport=api._transport,
            base_url=str(api.base_url),
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    return client


async def test_the_walkthrough_through_a_generated_client(api, factory, client_package):
    from assocflow_client.api.disassociations import (
        agree_disassociation,
        check_disassociation,
        reject_disassociation,
        submit_disassociation,
    )
    from assocflow_client.api.records import list_association_records
    from assocflow_client.models import (
        AgreeBody,
        CheckBody,
        CheckResult,
        DisassociationRequest,
        ListAssociationRecordsKindType0,
        PageRecord,
        ProblemDetail,
        RejectBody,
        RequestStatus,
        SubmitBody,
    )

    world = await factory.world()
    customer = client_for(client_package, api, world.customer)
    partner = client_for(client_package, api, world.partner_admin)

    # The customer runs the account check on its own, then submits.
    check = await check_disassociation.asyncio(
        client=customer, body=CheckBody(association_id=world.association_id)
    )
    assert isinstance(check, CheckResult) and check.passed
    submitted = await submit_disassociation.asyncio_detailed(
        client=customer,
        body=SubmitBody(
            association_id=world.association_id,
            reason="We are moving to another partner",
            acknowledged=True,
        ),
        idempotency_key="walkthrough-1",
    )
    assert submitted.status_code == 201
    first = submitted.parsed
    assert isinstance(first, DisassociationRequest) and first.status == RequestStatus.PENDING
    assert submitted.headers["location"] == f"/v1/disassociations/{first.id}"

    # The partner agrees: the association has ended.
    agreed = await agree_disassociation.asyncio(
        first.id, client=partner, body=AgreeBody(reason="Thank you for working with us")
    )
    assert isinstance(agreed, DisassociationRequest) and agreed.status == RequestStatus.AGREED

    # The partner asks to end another association, and that customer rejects.
    other_customer, _ = await factory.customer()
    other_association = await factory.association(world.partner_id, other_customer)
    other = client_for(client_package, api, await factory.token("customer_service", other_customer))
    second = await submit_disassociation.asyncio(
        client=partner,
        body=SubmitBody(
            association_id=other_association, reason="We are leaving this market", acknowledged=True
        ),
    )
    assert isinstance(second, DisassociationRequest)
    rejected = await reject_disassociation.asyncio(
        second.id, client=other, body=RejectBody(reason="We still need your support this quarter")
    )
    assert isinstance(rejected, DisassociationRequest)
    assert rejected.status == RequestStatus.REJECTED

    # A customer in arrears is refused with the failed items, as a typed problem.
    arrears_customer, arrears_token = await factory.customer(AccountStanding(arrears=120))
    arrears_association = await factory.association(world.partner_id, arrears_customer)
    refused = await submit_disassociation.asyncio_detailed(
        client=client_for(client_package, api, arrears_token),
        body=SubmitBody(
            association_id=arrears_association, reason="Switching partners", acknowledged=True
        ),
    )
    assert refused.status_code == 422
    assert isinstance(refused.parsed, ProblemDetail) and refused.parsed.code == "check_failed"
    failed = [item for item in refused.parsed["items"] if not item["passed"]]
    assert [item["code"] for item in failed] == ["no_arrears"]

    # Everything is on record, newest first, a page of two at a time.
    records, cursor = [], None
    while True:
        page = await list_association_records.asyncio(
            client=partner,
            kind=ListAssociationRecordsKindType0.DISASSOCIATION,
            limit=2,
            **({"cursor": cursor} if cursor else {}),
        )
        assert isinstance(page, PageRecord) and len(page.items) <= 2
        records += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    mine = [(r.request_id, r.action) for r in records if r.request_id in (first.id, second.id)]
    assert mine == [
        (second.id, "rejected"), (second.id, "requested"),
        (first.id, "agreed"), (first.id, "requested"),
    ]  # fmt: skip
    assert [r.occurred_at for r in records] == sorted(
        (r.occurred_at for r in records), reverse=True
    )
    assert len(records) > 2  # more than one page was read
