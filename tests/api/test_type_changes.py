"""Association type changes (SPEC v3) end to end: real PostgreSQL, the Temporal dev server and a
worker. The same consent process as disassociations; what differs is what is checked, what the
limit counts, and that agreement changes the association's type instead of ending it."""

from __future__ import annotations

import asyncio

import pytest

from contract import OperatorDecision
from domain.types import RequestStatus
from tests.api.test_disassociations import assert_problem
from tests.api.test_disassociations import submit as submit_disassociation
from tests.factories import bearer
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.devserver

FIELDS = {
    "id", "association_id", "partner_id", "customer_id", "initiator", "from_type", "new_type",
    "status", "reason", "submitted_at", "respond_by", "decided_at", "decided_by",
    "decision_reason",
}  # fmt: skip


async def ask(api, token, association_id, new_type="referral", reason="Only advice now", **extra):
    body = {
        "association_id": str(association_id),
        "new_type": new_type,
        "reason": reason,
        "acknowledged": True,
        **extra,
    }
    return await api.post("/v1/type-changes", json=body, headers=bearer(token))


async def decide(api, token, request_id, action, **body):
    return await api.post(
        f"/v1/type-changes/{request_id}/{action}", json=body or None, headers=bearer(token)
    )


async def association_type(api, world) -> str:
    found = await api.get(
        f"/v1/associations/{world.association_id}", headers=bearer(world.customer)
    )
    return found.json()["association_type"]


async def test_customer_asks_partner_agrees_and_the_type_changes_once(api, factory):
    world = await factory.world()
    created = await ask(api, world.customer, world.association_id)
    assert created.status_code == 201, created.text
    request = created.json()
    assert set(request) == FIELDS
    assert created.headers["location"] == f"/v1/type-changes/{request['id']}"
    assert (request["from_type"], request["new_type"], request["status"]) == (
        "resale", "referral", "pending",
    )  # fmt: skip
    assert await association_type(api, world) == "resale"  # nothing changes before agreement

    agreed = await decide(api, world.partner_admin, request["id"], "agree", reason="Fine by us")
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "agreed"
    assert await association_type(api, world) == "referral"
    again = await decide(api, world.partner_admin, request["id"], "agree")
    assert assert_problem(again, 409, "not_pending")["request_status"] == "agreed"

    notified = await factory.fetch(
        "SELECT event_type, recipient_kind, payload FROM notifications WHERE request_id = %s",
        request["id"],
    )
    assert sorted((n["event_type"], n["recipient_kind"]) for n in notified) == [
        ("association.type_changed", "customer"),
        ("association.type_changed", "partner"),
        ("type_change.agreed", "customer"),
        ("type_change.agreed", "partner"),
        ("type_change.requested", "partner"),
    ]
    payload = next(n["payload"] for n in notified if n["event_type"] == "association.type_changed")
    assert payload["data"]["request"]["from_type"] == "resale"
    assert payload["data"]["request"]["new_type"] == "referral"

    changed = await factory.fetch(
        "SELECT request_id, before, after FROM association_records"
        " WHERE association_id = %s AND action = 'type_changed'",
        world.association_id,
    )
    assert [(str(r["request_id"]), r["before"], r["after"]) for r in changed] == [
        (request["id"], {"association_type": "resale"}, {"association_type": "referral"})
    ]


async def test_partner_asks_customer_rejects_and_the_type_stays(api, factory):
    world = await factory.world()
    request_id = (
        await ask(api, world.partner_admin, world.association_id, "advance_payment")
    ).json()["id"]
    assert_problem(await decide(api, world.customer, request_id, "reject"), 422, "validation_error")
    assert_problem(
        await decide(api, world.partner_admin, request_id, "agree"), 403, "forbidden"
    )  # the initiator does not answer its own request
    rejected = await decide(api, world.customer, request_id, "reject", reason="Not this year")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert await association_type(api, world) == "resale"


async def test_the_initiator_withdraws_and_operators_decide_or_cancel(api, factory):
    operator = bearer("test-operator-token")
    world = await factory.world()
    withdrawn_id = (await ask(api, world.customer, world.association_id)).json()["id"]
    withdrawn = await decide(api, world.customer, withdrawn_id, "withdraw")
    assert withdrawn.json()["status"] == "withdrawn"

    world = await factory.world()
    cancelled_id = (await ask(api, world.customer, world.association_id)).json()["id"]
    no_reason = await api.post(
        f"/v1/admin/type-changes/{cancelled_id}/cancel", json={}, headers=operator
    )
    assert_problem(no_reason, 422, "validation_error")
    cancelled = await api.post(
        f"/v1/admin/type-changes/{cancelled_id}/cancel",
        json={"reason": "Duplicate"},
        headers=operator,
    )
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["decided_by"].startswith("operator:")
    assert await association_type(api, world) == "resale"

    world = await factory.world()
    agreed_id = (await ask(api, world.partner_admin, world.association_id)).json()["id"]
    agreed = await api.post(f"/v1/admin/type-changes/{agreed_id}/agree", json={}, headers=operator)
    assert agreed.json()["status"] == "agreed"
    assert agreed.json()["decided_by"].startswith("operator:")
    assert await association_type(api, world) == "referral"


async def test_the_check_lists_the_items_of_the_new_type(api, factory):
    world = await factory.world()
    checked = await api.post(
        "/v1/type-change-checks",
        json={"association_id": str(world.association_id), "new_type": "referral"},
        headers=bearer(world.partner_admin),
    )
    assert checked.status_code == 200, checked.text
    assert [i["code"] for i in checked.json()["items"]] == [
        "association_active", "no_pending_request", "within_request_limit", "type_differs",
        "no_orders_awaiting_partner_payment", "no_unused_vouchers",
    ]  # fmt: skip
    same = await ask(api, world.customer, world.association_id, new_type="resale")
    failed = assert_problem(same, 422, "check_failed")
    assert [i["code"] for i in failed["items"] if not i["passed"]] == ["type_differs"]
    assert (
        await factory.count(
            "SELECT count(*) FROM requests WHERE association_id = %s", world.association_id
        )
        == 0
    )
    unknown = await ask(api, world.customer, world.association_id, new_type="wholesale")
    assert_problem(unknown, 422, "validation_error")
    missing = await api.post(
        "/v1/type-change-checks",
        json={"association_id": str(world.association_id)},
        headers=bearer(world.customer),
    )
    assert_problem(missing, 422, "validation_error")


async def test_one_pending_request_of_any_kind_per_association(api, factory):
    world = await factory.world()
    change = (await ask(api, world.customer, world.association_id)).json()
    refused = await submit_disassociation(api, world.partner_admin, world.association_id)
    problem = assert_problem(refused, 409, "request_pending")
    assert "type change request" in problem["detail"] and change["id"] in problem["detail"]

    world = await factory.world()
    ending = (await submit_disassociation(api, world.customer, world.association_id)).json()
    problem = assert_problem(
        await ask(api, world.partner_admin, world.association_id), 409, "request_pending"
    )
    assert "disassociation request" in problem["detail"] and ending["id"] in problem["detail"]


async def test_a_type_change_and_a_disassociation_in_the_same_instant_accept_one(api, factory):
    for _ in range(5):
        world = await factory.world()
        change, ending = await asyncio.gather(
            ask(api, world.customer, world.association_id),
            submit_disassociation(api, world.partner_admin, world.association_id),
        )
        statuses = sorted([change.status_code, ending.status_code])
        assert statuses == [201, 409], (change.text, ending.text)
        loser = change if change.status_code == 409 else ending
        assert loser.json()["code"] == "request_pending"
        assert (
            await factory.count(
                "SELECT count(*) FROM requests WHERE association_id = %s", world.association_id
            )
            == 1
        )


async def test_the_type_change_limit_counts_the_association_whoever_asks(api, factory):
    world = await factory.world()
    first = (await ask(api, world.customer, world.association_id)).json()
    await decide(api, world.customer, first["id"], "withdraw")
    refused = await ask(api, world.partner_admin, world.association_id)
    problem = assert_problem(refused, 409, "request_limit_reached")
    assert problem["next_allowed_at"]
    # The disassociation limit counts disassociations only.
    ending = await submit_disassociation(api, world.partner_admin, world.association_id)
    assert ending.status_code == 201, ending.text


async def test_permissions_of_a_partners_people(api, factory):
    world = await factory.world()
    _, only_disassociations = await factory.user(
        world.partner_id, ["associations:read", "disassociations:submit", "disassociations:process"]
    )
    _, type_changer = await factory.user(
        world.partner_id, ["type_changes:submit", "type_changes:process"]
    )
    assert_problem(await ask(api, only_disassociations, world.association_id), 403, "forbidden")
    request_id = (await ask(api, world.customer, world.association_id)).json()["id"]
    assert_problem(await decide(api, only_disassociations, request_id, "agree"), 403, "forbidden")
    seen = await api.get(f"/v1/type-changes/{request_id}", headers=bearer(type_changer))
    assert seen.status_code == 200
    assert (await decide(api, type_changer, request_id, "agree")).json()["status"] == "agreed"


async def test_each_kind_is_read_under_its_own_routes(api, factory):
    world = await factory.world()
    change = (await ask(api, world.customer, world.association_id)).json()
    other = await factory.world()
    assert_problem(
        await api.get(f"/v1/disassociations/{change['id']}", headers=bearer(world.customer)),
        404,
        "not_found",
    )
    assert_problem(
        await decide_disassociation(api, world.partner_admin, change["id"], "agree"),
        404,
        "not_found",
    )
    assert_problem(
        await api.get(f"/v1/type-changes/{change['id']}", headers=bearer(other.customer)),
        404,
        "not_found",
    )
    listed = await api.get(
        "/v1/type-changes", params={"status": "pending"}, headers=bearer(world.partner_reader)
    )
    assert [r["id"] for r in listed.json()["items"]] == [change["id"]]
    disassociations = await api.get("/v1/disassociations", headers=bearer(world.partner_reader))
    assert disassociations.json()["items"] == []
    records = await api.get(
        "/v1/association-records", params={"kind": "type_change"}, headers=bearer(world.customer)
    )
    requested = [r for r in records.json()["items"] if r["request_id"] == change["id"]]
    assert [(r["action"], r["before"], r["after"]) for r in requested] == [
        ("requested", {"association_type": "resale"}, {"association_type": "referral"})
    ]


async def decide_disassociation(api, token, request_id, action, **body):
    return await api.post(
        f"/v1/disassociations/{request_id}/{action}", json=body or None, headers=bearer(token)
    )


async def test_the_temporal_ui_signal_agrees_and_its_cancellation_cancels(api, factory, dev_env):
    world = await factory.world()
    signalled = (await ask(api, world.partner_admin, world.association_id)).json()
    handle = dev_env.client.get_workflow_handle_for(
        RequestWorkflow.run, f"type-change-{signalled['id']}"
    )
    await handle.signal(RequestWorkflow.agree, OperatorDecision(operator="ops@example"))
    outcome = await handle.result()
    assert outcome.request.status is RequestStatus.AGREED
    assert outcome.request.decided_by == "temporal_ui:ops@example (unverified)"
    assert await association_type(api, world) == "referral"

    world = await factory.world()
    cancelled = (await ask(api, world.customer, world.association_id)).json()
    handle = dev_env.client.get_workflow_handle_for(
        RequestWorkflow.run, f"type-change-{cancelled['id']}"
    )
    await handle.cancel()
    outcome = await handle.result()
    assert outcome.request.status is RequestStatus.CANCELLED
    seen = await api.get(f"/v1/type-changes/{cancelled['id']}", headers=bearer(world.customer))
    assert seen.json()["status"] == "cancelled"
    assert await association_type(api, world) == "resale"


async def test_an_operator_may_not_change_the_type_while_the_parties_decide(api, factory):
    operator = bearer("test-operator-token")
    world = await factory.world()
    request = (await ask(api, world.customer, world.association_id)).json()
    patch = await api.patch(
        f"/v1/admin/associations/{world.association_id}",
        json={"association_type": "advance_payment", "reason": "Operator's change"},
        headers=operator,
    )
    assert request["id"] in assert_problem(patch, 409, "request_pending")["detail"]
    assert await association_type(api, world) == "resale"
    await api.post(
        f"/v1/admin/type-changes/{request['id']}/cancel", json={"reason": "Wrong"}, headers=operator
    )
    patched = await api.patch(
        f"/v1/admin/associations/{world.association_id}",
        json={"association_type": "advance_payment", "reason": "Operator's change"},
        headers=operator,
    )
    assert patched.status_code == 200 and patched.json()["association_type"] == "advance_payment"


async def test_operators_give_partner_people_the_type_change_permissions(api, factory):
    operator = bearer("test-operator-token")
    partner = await factory.partner()
    created = await api.post(
        f"/v1/admin/partners/{partner}/users",
        json={"name": "Ana", "email": f"ana-{partner}@example.com",
              "permissions": ["associations:read", "type_changes:submit", "type_changes:process"]},
        headers=operator,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert set(created.json()["permissions"]) == {
        "associations:read", "type_changes:submit", "type_changes:process",
    }  # fmt: skip
    unknown = await api.post(
        f"/v1/admin/partners/{partner}/users",
        json={"name": "Bo", "email": f"bo-{partner}@example.com", "permissions": ["everything"]},
        headers=operator,
    )
    assert_problem(unknown, 422, "validation_error")
