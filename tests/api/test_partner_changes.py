"""Partner changes (SPEC v3) end to end: real PostgreSQL, the Temporal dev server and a worker.
A customer moves to another partner in one request that awaits both partners' consents together;
when both are given the old association ends and the new one begins in one transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.types import Actor, Decision, DecisionAction, Party, RequestKind, RequestStatus, Side
from tests.api.test_disassociations import assert_problem
from tests.api.test_records import walk
from tests.factories import bearer, command
from workflows import starter

pytestmark = pytest.mark.devserver

FIELDS = {
    "id", "association_id", "customer_id", "current_partner_id", "new_partner_id", "status",
    "reason", "submitted_at", "respond_by", "current_partner_decision", "new_partner_decision",
    "new_association_id", "completed_at",
}  # fmt: skip


async def move(api, token, world, new_partner_id, reason="Our new reseller covers our region"):
    body = {
        "association_id": str(world.association_id),
        "new_partner_id": str(new_partner_id),
        "reason": reason,
        "acknowledged": True,
    }
    return await api.post("/v1/partner-changes", json=body, headers=bearer(token))


async def answer(api, token, request_id, action, **body):
    return await api.post(
        f"/v1/partner-changes/{request_id}/{action}", json=body or None, headers=bearer(token)
    )


async def new_partner(factory):
    partner = await factory.partner()
    _, admin = await factory.user(partner, ["admin"])
    return partner, admin


async def active_associations(factory, customer_id) -> list[dict]:
    return await factory.fetch(
        "SELECT partner_id, association_type FROM associations"
        " WHERE customer_id = %s AND status = 'active'",
        customer_id,
    )


async def test_both_partners_consent_and_the_customer_moves_at_once(api, factory):
    world = await factory.world()
    target, target_admin = await new_partner(factory)
    created = await move(api, world.customer, world, target)
    assert created.status_code == 201, created.text
    request = created.json()
    assert set(request) == FIELDS and request["status"] == "pending"
    assert created.headers["location"] == f"/v1/partner-changes/{request['id']}"

    agreed = await answer(api, world.partner_admin, request["id"], "agree", reason="Good luck")
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "pending"
    assert agreed.json()["current_partner_decision"]["decision"] == "agree"
    again = await answer(api, world.partner_admin, request["id"], "agree")
    assert_problem(again, 409, "already_answered")
    # The new partner reads the request, but not the current partner's reason.
    seen = await api.get(f"/v1/partner-changes/{request['id']}", headers=bearer(target_admin))
    assert seen.status_code == 200
    assert seen.json()["current_partner_decision"]["reason"] is None
    assert [a["partner_id"] for a in await active_associations(factory, world.customer_id)] == [
        world.partner_id
    ]

    accepted = await answer(
        api, target_admin, request["id"], "accept", association_type="advance_payment"
    )
    assert accepted.status_code == 200, accepted.text
    done = accepted.json()
    assert done["status"] == "completed" and done["completed_at"] and done["new_association_id"]
    assert done["new_partner_decision"]["association_type"] == "advance_payment"
    assert await active_associations(factory, world.customer_id) == [
        {"partner_id": target, "association_type": "advance_payment"}
    ]
    [old] = await factory.fetch(
        "SELECT status, ended_by_request_id FROM associations WHERE id = %s", world.association_id
    )
    assert old["status"] == "ended" and str(old["ended_by_request_id"]) == done["id"]
    started = await factory.fetch(
        "SELECT action, request_id FROM association_records WHERE kind = 'association'"
        " AND request_id = %s ORDER BY action",
        request["id"],
    )
    assert [r["action"] for r in started] == ["associated", "ended"]
    told = await factory.fetch(
        "SELECT event_type, recipient_kind, recipient_id FROM notifications WHERE request_id = %s",
        request["id"],
    )
    by_event: dict[str, set] = {}
    for note in told:
        by_event.setdefault(note["event_type"], set()).add(note["recipient_id"])
    parties = {world.partner_id, world.customer_id, target}
    assert by_event["partner_change.requested"] == {world.partner_id, target}
    assert by_event["partner_change.agreed"] == parties
    assert by_event["partner_change.completed"] == parties
    assert by_event["association.ended"] == {world.partner_id, world.customer_id}
    assert by_event["association.started"] == {target, world.customer_id}
    leaked = await factory.fetch(
        "SELECT payload FROM notifications WHERE request_id = %s AND recipient_id = %s",
        request["id"],
        target,
    )
    assert all("Good luck" not in str(n["payload"]) for n in leaked)


async def test_either_refusal_ends_it_and_the_customer_stays(api, factory):
    for refuser, action in (("current", "reject"), ("new", "decline")):
        world = await factory.world()
        target, target_admin = await new_partner(factory)
        request = (await move(api, world.customer, world, target)).json()
        token = world.partner_admin if refuser == "current" else target_admin
        no_reason = await answer(api, token, request["id"], action)
        assert_problem(no_reason, 422, "validation_error")
        ended = await answer(api, token, request["id"], action, reason="Not now")
        assert ended.status_code == 200, ended.text
        assert ended.json()["status"] == ("rejected" if action == "reject" else "declined")
        assert [a["partner_id"] for a in await active_associations(factory, world.customer_id)] == [
            world.partner_id
        ]
        late = await answer(api, world.partner_admin if refuser == "new" else target_admin,
                            request["id"], "agree" if refuser == "new" else "accept")  # fmt: skip
        assert assert_problem(late, 409, "not_pending")["request_status"] == ended.json()["status"]


async def test_who_may_ask_and_answer(api, factory):
    world = await factory.world()
    target, target_admin = await new_partner(factory)
    other, other_admin = await new_partner(factory)
    # Only the customer asks.
    assert_problem(await move(api, world.partner_admin, world, target), 403, "forbidden")
    request = (await move(api, world.customer, world, target)).json()
    # The current partner agrees or rejects, the new partner accepts or declines.
    assert_problem(
        await answer(api, world.partner_admin, request["id"], "accept"), 403, "forbidden"
    )
    assert_problem(await answer(api, target_admin, request["id"], "agree"), 403, "forbidden")
    assert_problem(await answer(api, world.customer, request["id"], "agree"), 403, "forbidden")
    # A third partner sees nothing.
    assert_problem(
        await api.get(f"/v1/partner-changes/{request['id']}", headers=bearer(other_admin)),
        404,
        "not_found",
    )
    # A partner person needs partner_changes:process.
    _, without = await factory.user(target, ["associations:read", "disassociations:process"])
    assert_problem(await answer(api, without, request["id"], "accept"), 403, "forbidden")
    withdrawn = await answer(api, world.customer, request["id"], "withdraw")
    assert withdrawn.json()["status"] == "withdrawn"


async def test_the_check_names_the_new_partner_and_counts_the_customers_limit(api, factory):
    world = await factory.world()
    target, target_admin = await new_partner(factory)
    frozen = await factory.partner(frozen=True)
    check = await api.post(
        "/v1/partner-change-checks",
        json={"association_id": str(world.association_id), "new_partner_id": str(frozen)},
        headers=bearer(world.customer),
    )
    failed = [i["code"] for i in check.json()["items"] if not i["passed"]]
    assert failed == ["new_partner_accepts_customers"]
    same = await move(api, world.customer, world, world.partner_id)
    assert_problem(same, 422, "check_failed")
    request = (await move(api, world.customer, world, target)).json()
    assert (await answer(api, world.customer, request["id"], "withdraw")).status_code == 200
    # The customer's disassociation limit counts its partner changes.
    ending = await api.post(
        "/v1/disassociations",
        json={"association_id": str(world.association_id), "reason": "x", "acknowledged": True},
        headers=bearer(world.customer),
    )
    assert_problem(ending, 409, "request_limit_reached")


async def test_both_consents_in_the_same_instant_complete_it_once(api, factory):
    for _ in range(3):
        world = await factory.world()
        target, target_admin = await new_partner(factory)
        request = (await move(api, world.customer, world, target)).json()
        agreed, accepted = await asyncio.gather(
            answer(api, world.partner_admin, request["id"], "agree"),
            answer(api, target_admin, request["id"], "accept"),
        )
        assert agreed.status_code == 200 and accepted.status_code == 200
        statuses = {agreed.json()["status"], accepted.json()["status"]}
        assert "completed" in statuses
        assert await active_associations(factory, world.customer_id) == [
            {"partner_id": target, "association_type": "resale"}
        ]


async def settled(factory, request_id) -> dict:
    for _ in range(300):  # 30 s
        [row] = await factory.fetch(
            "SELECT status, decided_by, completed_at, respond_by FROM requests WHERE id = %s",
            request_id,
        )
        if row["status"] != "pending":
            return row
        await asyncio.sleep(0.1)
    raise AssertionError("the request was not settled")


async def test_on_the_deadline_silence_agrees_for_the_current_partner_and_expires_for_the_new(
    dev_env, dev_worker, task_queue, factory
):
    """Short windows on the dev server: the new partner accepted and the current partner was
    silent → completed at the deadline; nobody answered → expired. The reminder goes to each
    partner whose answer is missing."""
    window = {"response_window": timedelta(seconds=3), "reminder_before": timedelta(seconds=1)}
    accepted_world, silent_world = await factory.world(), await factory.world()
    target = await factory.partner()
    accepted, silent = (
        command(w, Side.CUSTOMER, kind=RequestKind.PARTNER_CHANGE, **window).model_copy(
            update={"new_partner_id": target, "new_partner_name": "New"}
        )
        for w in (accepted_world, silent_world)
    )
    for cmd in (accepted, silent):
        assert (await starter.submit(dev_env.client, cmd, task_queue)).accepted
    new_partner = Actor(kind="partner_user", id=str(uuid4()), side=Side.PARTNER)
    accept = Decision(action=DecisionAction.ACCEPT, actor=new_partner, party=Party.NEW_PARTNER)
    answered = await starter.decide(dev_env.client, f"partner-change-{accepted.request_id}", accept)
    assert answered.status is RequestStatus.PENDING and answered.new_partner_decision
    completed = await settled(factory, accepted.request_id)
    expired = await settled(factory, silent.request_id)
    assert completed["status"] == "completed" and completed["decided_by"] == "system:assocflow"
    assert completed["completed_at"] >= completed["respond_by"]
    assert expired["status"] == "expired"
    assert [
        row["partner_id"] for row in await active_associations(factory, accepted_world.customer_id)
    ] == [target]  # noqa: E501
    assert [
        row["partner_id"] for row in await active_associations(factory, silent_world.customer_id)
    ] == [silent_world.partner_id]  # noqa: E501
    for cmd, reminded in (
        (accepted, {accepted_world.partner_id}),
        (silent, {silent_world.partner_id, target}),
    ):
        rows = await factory.fetch(
            "SELECT recipient_id FROM notifications WHERE request_id = %s"
            " AND event_type = 'partner_change.reminder'",
            cmd.request_id,
        )
        assert {row["recipient_id"] for row in rows} == reminded


async def test_no_one_on_the_new_partners_side_reads_the_current_partners_reason(api, factory):
    world = await factory.world()
    distributor = await factory.partner("distributor")
    _, distributor_admin = await factory.user(distributor, ["admin"])
    target = await factory.partner("reseller", parent=distributor)
    request = (await move(api, world.customer, world, target)).json()
    await answer(api, world.partner_admin, request["id"], "agree", reason="Sad to see you go")
    for token, shown in (
        (distributor_admin, None),  # reads it through the new partner, a reseller under it
        (world.distributor_admin, "Sad to see you go"),  # reads it through the current partner
        (world.customer, "Sad to see you go"),
    ):
        seen = await api.get(f"/v1/partner-changes/{request['id']}", headers=bearer(token))
        assert seen.json()["current_partner_decision"]["reason"] == shown


async def test_cancelling_the_workflow_in_the_temporal_ui_cancels_it(api, factory, dev_env):
    world = await factory.world()
    target, target_admin = await new_partner(factory)
    request = (await move(api, world.customer, world, target)).json()
    await answer(api, target_admin, request["id"], "accept")
    handle = dev_env.client.get_workflow_handle(f"partner-change-{request['id']}")
    await handle.cancel()
    await handle.result()
    seen = await api.get(f"/v1/partner-changes/{request['id']}", headers=bearer(world.customer))
    assert seen.json()["status"] == "cancelled"
    assert [a["partner_id"] for a in await active_associations(factory, world.customer_id)] == [
        world.partner_id
    ]


async def new_customer_moves(api, factory, partner_id, new_partner_id) -> str:
    """A new customer of `partner_id` asks to move to `new_partner_id`: the request's id."""
    customer_id, customer = await factory.customer()
    association = await factory.association(partner_id, customer_id)
    body = {
        "association_id": str(association),
        "new_partner_id": str(new_partner_id),
        "reason": "Closer to us",
        "acknowledged": True,
    }
    moved = await api.post("/v1/partner-changes", json=body, headers=bearer(customer))
    assert moved.status_code == 201, moved.text
    return moved.json()["id"]


async def test_a_list_shows_each_move_once_in_order_whichever_side_the_reader_is_on(api, factory):
    """A partner's list reads the moves away from it and those to it (each from its own index);
    a distributor's, those of every reseller under it: a move between two of them is one row."""
    world = await factory.world()
    sibling = await factory.partner("reseller", parent=world.distributor_id)
    elsewhere, elsewhere_admin = await new_partner(factory)
    ids = [(await move(api, world.customer, world, sibling)).json()["id"]]
    await answer(api, world.customer, ids[0], "withdraw")
    ids.append(await new_customer_moves(api, factory, elsewhere, sibling))
    ids.append(await new_customer_moves(api, factory, world.partner_id, elsewhere))
    for token, expected in (
        (world.distributor_admin, [ids[2], ids[1], ids[0]]),  # the first: both sides its own
        (world.partner_admin, [ids[2], ids[0]]),
        (elsewhere_admin, [ids[2], ids[1]]),
    ):
        listed = await walk(api, token, "", path="/v1/partner-changes", limit=2)
        page = [r["id"] for r in listed]
        assert page == expected
