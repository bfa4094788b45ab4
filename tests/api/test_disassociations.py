"""The product API end to end: real PostgreSQL, the Temporal dev server (update-with-start and
Updates) and a worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from domain.types import AccountStanding
from tests.factories import bearer

pytestmark = pytest.mark.devserver


async def submit(api, token, association_id, reason="Moving to another partner", **extra):
    body = {"association_id": str(association_id), "reason": reason, "acknowledged": True, **extra}
    return await api.post("/v1/disassociations", json=body, headers=bearer(token))


async def decide(api, token, request_id, action, **body):
    return await api.post(
        f"/v1/disassociations/{request_id}/{action}", json=body or None, headers=bearer(token)
    )


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["title"]
    return body


async def test_customer_submits_partner_agrees_and_the_association_ends(api, factory):
    world = await factory.world()
    created = await submit(api, world.customer, world.association_id)
    assert created.status_code == 201, created.text
    request = created.json()
    assert created.headers["location"] == f"/v1/disassociations/{request['id']}"
    assert request["status"] == "pending" and request["initiator"] == "customer"
    assert set(request) == {
        "id", "association_id", "partner_id", "customer_id", "initiator", "status", "reason",
        "submitted_at", "respond_by", "decided_at", "decided_by", "decision_reason",
    }  # fmt: skip

    agreed = await decide(api, world.partner_admin, request["id"], "agree", reason="Understood")
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "agreed"
    assert agreed.json()["decided_by"] == f"partner_user:{world.partner_admin_id}"
    assert agreed.json()["decision_reason"] == "Understood"

    association = await api.get(
        f"/v1/associations/{world.association_id}", headers=bearer(world.customer)
    )
    assert association.json()["status"] == "ended"
    assert association.json()["ended_at"] == agreed.json()["decided_at"]
    seen_by_partner = await api.get(
        f"/v1/disassociations/{request['id']}", headers=bearer(world.partner_reader)
    )
    assert seen_by_partner.json() == agreed.json()
    records = await api.get("/v1/association-records", headers=bearer(world.customer))
    actions = [(r["kind"], r["action"], r["actor"]) for r in records.json()["items"]]
    assert actions[:3] == [
        ("association", "ended", f"partner_user:{world.partner_admin_id}"),
        ("disassociation", "agreed", f"partner_user:{world.partner_admin_id}"),
        ("disassociation", "requested", f"customer:{world.customer_id}"),
    ] or actions[:3] == [
        ("disassociation", "agreed", f"partner_user:{world.partner_admin_id}"),
        ("association", "ended", f"partner_user:{world.partner_admin_id}"),
        ("disassociation", "requested", f"customer:{world.customer_id}"),
    ]
    notified = await factory.fetch(
        "SELECT event_type, recipient_kind FROM notifications WHERE request_id = %s", request["id"]
    )
    assert sorted((n["event_type"], n["recipient_kind"]) for n in notified) == [
        ("association.ended", "customer"),
        ("association.ended", "partner"),
        ("disassociation.agreed", "customer"),
        ("disassociation.agreed", "partner"),
        ("disassociation.requested", "partner"),
    ]


async def test_partner_submits_customer_rejects_and_the_association_stays(api, factory):
    world = await factory.world()
    created = await submit(api, world.partner_submitter, world.association_id)
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    no_reason = await decide(api, world.customer, request_id, "reject")
    assert_problem(no_reason, 422, "validation_error")
    rejected = await decide(api, world.customer, request_id, "reject", reason="We still need you")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_reason"] == "We still need you"
    association = await api.get(
        f"/v1/associations/{world.association_id}", headers=bearer(world.partner_reader)
    )
    assert association.json()["status"] == "active"


async def test_initiator_withdraws_and_only_the_initiator_may(api, factory):
    world = await factory.world()
    request_id = (await submit(api, world.customer, world.association_id)).json()["id"]
    assert_problem(await decide(api, world.partner_admin, request_id, "withdraw"), 403, "forbidden")
    withdrawn = await decide(api, world.customer, request_id, "withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"


async def test_decisions_are_404_403_409_in_that_order(api, factory):
    world, stranger = await factory.world(), await factory.world()
    request_id = (await submit(api, world.customer, world.association_id)).json()["id"]
    # Cannot see it at all.
    assert_problem(await decide(api, stranger.partner_admin, request_id, "agree"), 404, "not_found")
    assert_problem(await decide(api, stranger.customer, request_id, "agree"), 404, "not_found")
    # Sees it, but is not the counterpart or lacks the permission.
    assert_problem(await decide(api, world.customer, request_id, "agree"), 403, "forbidden")
    assert_problem(
        await decide(api, world.partner_submitter, request_id, "agree"), 403, "forbidden"
    )
    assert_problem(
        await decide(api, world.distributor_admin, request_id, "agree"), 403, "forbidden"
    )
    # The processor may decide; afterwards everyone gets 409 with the request's status.
    agreed = await decide(api, world.partner_processor, request_id, "agree")
    assert agreed.status_code == 200
    for token, action in ((world.partner_admin, "agree"), (world.partner_admin, "reject")):
        body = assert_problem(
            await decide(api, token, request_id, action, reason="late"), 409, "not_pending"
        )
        assert body["request_status"] == "agreed"
    body = assert_problem(
        await decide(api, world.customer, request_id, "withdraw"), 409, "not_pending"
    )
    assert body["request_status"] == "agreed"


async def test_concurrent_decisions_settle_once(api, factory):
    world = await factory.world()
    request_id = (await submit(api, world.customer, world.association_id)).json()["id"]
    responses = await asyncio.gather(
        decide(api, world.partner_admin, request_id, "agree"),
        decide(api, world.partner_admin, request_id, "reject", reason="no"),
        decide(api, world.partner_processor, request_id, "agree"),
        decide(api, world.customer, request_id, "withdraw"),
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409], [r.text for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    final = await api.get(f"/v1/disassociations/{request_id}", headers=bearer(world.customer))
    assert final.json()["status"] == winner["status"]
    assert (
        await factory.count(
            "SELECT count(*) FROM association_records WHERE request_id = %s AND kind = 'disassociation'",
            request_id,
        )
        == 2
    )  # requested + the one outcome


async def test_failed_check_is_422_with_items_and_nothing_is_stored(api, factory):
    world = await factory.world(standing=AccountStanding(arrears="10.00", currency_set=False))
    refused = await submit(api, world.customer, world.association_id)
    body = assert_problem(refused, 422, "check_failed")
    assert {i["code"] for i in body["items"] if not i["passed"]} == {"no_arrears", "currency_set"}
    assert all({"code", "passed", "message"} == set(item) for item in body["items"])
    assert (
        await factory.count(
            "SELECT count(*) FROM requests WHERE association_id = %s",
            world.association_id,
        )
        == 0
    )
    # The same check on its own, to fix and check again.
    check = await api.post(
        "/v1/disassociation-checks",
        json={"association_id": str(world.association_id)},
        headers=bearer(world.customer),
    )
    assert check.status_code == 200
    assert check.json()["passed"] is False
    assert [i["code"] for i in check.json()["items"]] == [i["code"] for i in body["items"]]
    # The partner's own request does not look at the customer's arrears.
    partner_check = await api.post(
        "/v1/disassociation-checks",
        json={"association_id": str(world.association_id)},
        headers=bearer(world.partner_submitter),
    )
    assert partner_check.json()["passed"] is True


async def test_pending_and_limit_are_409_and_take_precedence(api, factory):
    world = await factory.world(standing=AccountStanding(frozen=False))
    first = await submit(api, world.customer, world.association_id)
    assert first.status_code == 201
    pending = assert_problem(
        await submit(api, world.partner_admin, world.association_id), 409, "request_pending"
    )
    assert any(i["code"] == "no_pending_request" for i in pending["items"])
    await decide(api, world.partner_admin, first.json()["id"], "reject", reason="no")
    limited = assert_problem(
        await submit(api, world.customer, world.association_id), 409, "request_limit_reached"
    )
    allowed = datetime.fromisoformat(limited["next_allowed_at"])
    submitted = datetime.fromisoformat(first.json()["submitted_at"])
    assert allowed > submitted and (allowed.month - submitted.month) % 12 == 3
    assert allowed.date().isoformat() in limited["items"][0]["message"]
    # Precedence: with the customer account now frozen as well, the limit still answers.
    async with factory.pool.connection() as conn:
        from store.accounts import put_standing

        await put_standing(conn, world.customer_id, AccountStanding(frozen=True))
    assert_problem(
        await submit(api, world.customer, world.association_id), 409, "request_limit_reached"
    )


async def test_twenty_concurrent_submits_accept_exactly_one(api, factory):
    world = await factory.world()
    tokens = [world.customer, world.partner_admin] * 10
    responses = await asyncio.gather(
        *(submit(api, token, world.association_id) for token in tokens)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code != 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"request_pending"}
    assert (
        await factory.count(
            "SELECT count(*) FROM requests WHERE association_id = %s",
            world.association_id,
        )
        == 1
    )


async def test_submit_validates_input_with_problem_details(api, factory):
    world = await factory.world()
    for body in (
        {"association_id": str(world.association_id), "reason": "x", "acknowledged": False},
        {"association_id": str(world.association_id), "reason": "", "acknowledged": True},
        {"association_id": str(world.association_id), "reason": "x" * 501, "acknowledged": True},
        {"association_id": "not-a-uuid", "reason": "x", "acknowledged": True},
        {
            "association_id": str(world.association_id),
            "reason": "x",
            "acknowledged": True,
            "extra": 1,
        },
    ):
        response = await api.post("/v1/disassociations", json=body, headers=bearer(world.customer))
        assert_problem(response, 422, "validation_error")
        assert response.json()["errors"]
    assert (
        await factory.count(
            "SELECT count(*) FROM requests WHERE association_id = %s",
            world.association_id,
        )
        == 0
    )


async def test_who_may_submit(api, factory):
    world, stranger = await factory.world(), await factory.world()
    # Not visible: 404. Visible but not theirs to act on, or no permission: 403.
    assert_problem(await submit(api, stranger.customer, world.association_id), 404, "not_found")
    assert_problem(
        await submit(api, stranger.partner_admin, world.association_id), 404, "not_found"
    )
    assert_problem(await submit(api, world.partner_reader, world.association_id), 403, "forbidden")
    assert_problem(
        await submit(api, world.partner_processor, world.association_id), 403, "forbidden"
    )
    assert_problem(
        await submit(api, world.distributor_admin, world.association_id), 403, "forbidden"
    )
    assert_problem(await submit(api, "test-operator-token", world.association_id), 403, "forbidden")
    assert_problem(await submit(api, "af_not-a-token", world.association_id), 401, "unauthorized")


async def test_frozen_distributor_fails_the_partners_check_not_the_customers(api, factory):
    world = await factory.world(distributor_frozen=True)
    body = assert_problem(
        await submit(api, world.partner_admin, world.association_id), 422, "check_failed"
    )
    assert [i["code"] for i in body["items"] if not i["passed"]] == ["partner_not_frozen"]
    assert (await submit(api, world.customer, world.association_id)).status_code == 201


async def test_lists_are_scoped_to_the_caller(api, factory):
    world, stranger = await factory.world(), await factory.world()
    request_id = (await submit(api, world.customer, world.association_id)).json()["id"]
    for token in (world.customer, world.partner_reader, world.distributor_admin):
        listed = await api.get("/v1/disassociations", headers=bearer(token))
        assert [r["id"] for r in listed.json()["items"]] == [request_id]
        associations = await api.get("/v1/associations", headers=bearer(token))
        assert [a["id"] for a in associations.json()["items"]] == [str(world.association_id)]
    for token in (stranger.customer, stranger.partner_admin):
        assert (await api.get("/v1/disassociations", headers=bearer(token))).json()["items"] == []
        assert_problem(
            await api.get(f"/v1/disassociations/{request_id}", headers=bearer(token)),
            404,
            "not_found",
        )
        assert_problem(
            await api.get(f"/v1/associations/{world.association_id}", headers=bearer(token)),
            404,
            "not_found",
        )
    filtered = await api.get("/v1/disassociations?status=agreed", headers=bearer(world.customer))
    assert filtered.json()["items"] == []


async def test_pagination_walks_every_item_once(api, factory):
    world = await factory.world()
    for _ in range(4):
        customer, _ = await factory.customer()
        await factory.association(world.partner_id, customer)
    seen, cursor = [], None
    while True:
        url = "/v1/associations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.get(url, headers=bearer(world.partner_reader))).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    bad = await api.get("/v1/associations?cursor=garbage", headers=bearer(world.partner_reader))
    assert_problem(bad, 422, "validation_error")
    assert_problem(
        await api.get("/v1/associations?limit=101", headers=bearer(world.partner_reader)),
        422,
        "validation_error",
    )


async def test_unknown_routes_and_methods_are_problems(api):
    assert_problem(await api.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(await api.delete("/v1/associations"), 405, "method_not_allowed")


async def test_health_and_readiness(api):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "temporal": "ok"}


async def test_decisions_record_submitted_and_respond_by_from_the_configured_window(api, factory):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    submitted = datetime.fromisoformat(request["submitted_at"])
    respond_by = datetime.fromisoformat(request["respond_by"])
    assert (respond_by - submitted).days == 10
    assert abs((submitted - datetime.now(UTC)).total_seconds()) < 60
