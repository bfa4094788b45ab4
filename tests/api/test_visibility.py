"""What operators see in the Temporal UI: the workflow id, search attributes, a readable summary,
and current details that follow the request's state; and their `agree`/`reject` signals."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle

import contract
from contract import OperatorDecision
from domain.types import AccountStanding, Side
from tests.api.test_disassociations import decide, submit
from tests.conftest import WORKER_VERSION
from tests.factories import bearer, command
from worker import build_worker
from workflows import starter
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.devserver


async def current_details(handle: WorkflowHandle) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def search_attributes(handle: WorkflowHandle) -> dict:
    attributes = (await handle.describe()).typed_search_attributes
    return {key.name: attributes.get(key) for key in contract.SEARCH_ATTRIBUTES}


async def test_a_request_explains_itself_at_every_stage(api, factory, dev_env):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    handle = dev_env.client.get_workflow_handle(f"disassociation-{request['id']}")
    assert request["id"] in handle.id

    description = await handle.describe()
    summary = await description.static_summary()
    assert world.customer_name in summary and world.partner_name in summary
    assert summary.startswith("Disassociation (resale) · customer-initiated")
    details = await description.static_details()
    assert request["id"] in details and str(world.association_id) in details
    assert "`agree`" in details and "`reject`" in details  # how an operator can act

    pending = await search_attributes(handle)
    assert pending == {
        "PartnerId": str(world.partner_id),
        "CustomerId": str(world.customer_id),
        "AssociationId": str(world.association_id),
        "Initiator": "customer",
        "RequestStatus": "pending",
        "RespondBy": pending["RespondBy"],
        "RequestKind": "disassociation",
        "NewPartnerId": None,
    }
    assert (
        pending["RespondBy"].isoformat().replace("+00:00", "Z")[:19] == request["respond_by"][:19]
    )
    now = await current_details(handle)
    assert now.startswith("**Pending**") and world.partner_name in now
    assert "Reminder" in now and "auto-agreed" in now

    await decide(api, world.partner_admin, request["id"], "agree", reason="fine")
    assert (await search_attributes(handle))["RequestStatus"] == "agreed"
    settled = await current_details(handle)
    assert settled.startswith("**Agreed**") and "association has ended" in settled
    assert f"partner_user:{world.partner_admin_id}" in settled


async def test_a_refused_request_costs_no_workflow(api, factory, dev_env):
    """The API checks first: a request its account check refuses starts nothing."""
    world = await factory.world(standing=AccountStanding(unused_vouchers=3))
    refused = await submit(api, world.partner_admin, world.association_id)
    assert refused.status_code == 422
    found = [
        w async for w in dev_env.client.list_workflows(f"AssociationId = '{world.association_id}'")
    ]
    assert found == []


async def test_a_request_refused_by_its_workflow_says_why(api, factory, dev_env):
    """The standing changed between the API's check and the acceptance under lock: the workflow
    refuses it, and tells operators why."""
    world = await factory.world(standing=AccountStanding(unused_vouchers=3))
    cmd = command(world, Side.PARTNER)
    admission = await starter.submit(
        dev_env.client, cmd, api._transport.app.state.settings.task_queue
    )
    assert not admission.accepted
    handle = dev_env.client.get_workflow_handle(f"disassociation-{cmd.request_id}")
    assert (await search_attributes(handle))["RequestStatus"] == "check_failed"
    details = await current_details(handle)
    assert details.startswith("**Not accepted**") and "no_unused_vouchers" in details


async def test_operators_settle_by_signal_on_the_dev_server(api, factory, dev_env):
    world = await factory.world()
    request = (await submit(api, world.partner_admin, world.association_id)).json()
    handle = dev_env.client.get_workflow_handle(f"disassociation-{request['id']}")
    await handle.signal(
        RequestWorkflow.reject, OperatorDecision(operator="ops@example", reason="Duplicate")
    )
    for _ in range(100):
        seen = (
            await api.get(f"/v1/disassociations/{request['id']}", headers=bearer(world.customer))
        ).json()
        if seen["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert seen["status"] == "rejected"
    # Nothing proves who typed the name in the Temporal UI: it is recorded as unverified.
    assert seen["decided_by"] == "temporal_ui:ops@example (unverified)"
    assert seen["decision_reason"] == "Duplicate"
    assert (await search_attributes(handle))["RequestStatus"] == "rejected"


async def test_every_stage_shows_in_search_attributes_and_details(dev_env, pool, factory):
    """From start (no worker yet) through the reminder to a timeout, on a queue of its own."""
    queue = f"stages-{uuid.uuid4().hex[:8]}"
    world = await factory.world()
    cmd = command(
        world,
        Side.CUSTOMER,
        response_window=timedelta(seconds=4),
        reminder_before=timedelta(seconds=2),
    )
    handle = await starter.start(dev_env.client, cmd, queue)
    started = await search_attributes(handle)
    assert started["RequestStatus"] == "checking" and started["Initiator"] == "customer"
    assert started["RespondBy"] is None
    assert "customer-initiated" in await (await handle.describe()).static_summary()

    async def until(predicate, what):
        for _ in range(200):
            if predicate(await search_attributes(handle), await current_details(handle)):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never saw {what}")

    async with build_worker(dev_env.client, pool, queue, version=WORKER_VERSION):
        await until(
            lambda sa, d: sa["RequestStatus"] == "pending" and "Reminder" in d and "due" in d,
            "pending",
        )
        await until(lambda sa, d: "sent at" in d, "the reminder sent")
        await until(
            lambda sa, d: sa["RequestStatus"] == "auto_agreed" and d.startswith("**Auto-agreed**"),
            "the outcome",
        )
    assert (await search_attributes(handle))["RespondBy"] is not None


async def test_a_type_change_reads_at_a_glance(api, factory, dev_env):
    world = await factory.world()
    body = {"association_id": str(world.association_id), "new_type": "referral",
            "reason": "Only advice now", "acknowledged": True}  # fmt: skip
    request = (
        await api.post("/v1/type-changes", json=body, headers=bearer(world.partner_admin))
    ).json()
    handle = dev_env.client.get_workflow_handle(f"type-change-{request['id']}")
    description = await handle.describe()
    summary = await description.static_summary()
    assert summary.startswith("Type change resale → referral · partner-initiated")
    assert world.customer_name in summary and world.partner_name in summary
    details = await description.static_details()
    assert details.startswith(f"### Type change request `{request['id']}`")
    assert "from **resale** to **referral**" in details
    attributes = await search_attributes(handle)
    assert attributes["RequestKind"] == "type_change"
    assert attributes["RequestStatus"] == "pending"
    pending = await current_details(handle)
    assert pending.startswith("**Pending** (type change): waiting for the **customer")
    assert "then it is **expired**" in pending

    await api.post(
        f"/v1/type-changes/{request['id']}/agree", json=None, headers=bearer(world.customer)
    )
    await handle.result()
    assert (await search_attributes(handle))["RequestStatus"] == "agreed"
    assert "The association is now referral" in await current_details(handle)


async def test_a_partner_change_says_whose_consent_is_missing(api, factory, dev_env):
    world = await factory.world()
    target = await factory.partner()
    _, target_admin = await factory.user(target, ["admin"])
    [names] = await factory.fetch("SELECT name FROM partners WHERE id = %s", target)
    body = {"association_id": str(world.association_id), "new_partner_id": str(target),
            "reason": "Closer to us", "acknowledged": True}  # fmt: skip
    request = (
        await api.post("/v1/partner-changes", json=body, headers=bearer(world.customer))
    ).json()
    handle = dev_env.client.get_workflow_handle(f"partner-change-{request['id']}")
    summary = await (await handle.describe()).static_summary()
    assert summary.startswith(f"Partner change {world.partner_name} → {names['name']}")
    attributes = await search_attributes(handle)
    assert attributes["RequestKind"] == "partner_change"
    assert attributes["NewPartnerId"] == str(target)
    waiting = await current_details(handle)
    assert f"partner {world.partner_name}** to agree or reject" in waiting
    assert f"new partner {names['name']}** to accept or decline" in waiting
    await api.post(
        f"/v1/partner-changes/{request['id']}/accept", json=None, headers=bearer(target_admin)
    )
    waiting = await current_details(handle)
    assert f"partner {world.partner_name}** to agree or reject" in waiting
    assert "new partner" not in waiting
    assert "then it is **completed**" in waiting  # the current partner's silence agrees
