"""Every decision counts, whatever its timing: sent the instant the request becomes visible,
together with an operator's cancellation, or by an operator through the admin API; and the
customer's request limit counts across its associations. Real PostgreSQL, the Temporal dev
server and a worker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import httpx
import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.requests import RequestActivities
from contract import RequestSnapshot, SettleInput
from domain.types import AccountStanding, RequestStatus
from server.app import create_app
from store.accounts import PostgresStanding
from tests.api.test_disassociations import assert_problem, decide, submit
from tests.api.test_verification import second_association
from tests.conftest import WEBHOOKS, WORKER_VERSION, _LifespanClient, api_client, make_settings
from tests.factories import World, bearer
from tests.mfa import enrol, require_verification
from worker import WORKFLOW_RUNNER, deployment_config
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.devserver

LIFECYCLES = 200
AT_ONCE = 10


async def notified(factory, association_id: UUID, *, within: float = 30) -> UUID:
    """The id of the request the moment its `disassociation.requested` notification exists."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = await factory.fetch(
            "SELECT request_id FROM notifications WHERE association_id = %s"
            " AND event_type = 'disassociation.requested'",
            association_id,
        )
        if rows:
            return rows[0]["request_id"]
        await asyncio.sleep(0.001)
    raise AssertionError("no disassociation.requested notification")


async def decide_the_moment_it_is_visible(api, factory, world: World, n: int) -> None:
    """An automated counterpart reacting to the webhook: it decides while the submit's own answer
    is still on its way."""
    customer_initiated = n % 2 == 0
    initiator, counterpart = (
        (world.customer, world.partner_admin)
        if customer_initiated
        else (world.partner_admin, world.customer)
    )
    submitting = asyncio.create_task(submit(api, initiator, world.association_id))
    request_id = await notified(factory, world.association_id)
    action, body = ("agree", {}) if n % 3 else ("reject", {"reason": "Not this quarter"})
    decided = await decide(api, counterpart, request_id, action, **body)
    created = await submitting
    assert created.status_code == 201, created.text
    assert decided.status_code == 200, f"lifecycle {n}: {decided.text}"
    assert decided.json()["status"] == {"agree": "agreed", "reject": "rejected"}[action]


async def test_a_decision_sent_the_moment_the_request_is_visible_is_applied(api, factory):
    worlds = [await factory.world() for _ in range(LIFECYCLES)]
    for start in range(0, LIFECYCLES, AT_ONCE):
        await asyncio.gather(
            *(
                decide_the_moment_it_is_visible(api, factory, worlds[n], n)
                for n in range(start, start + AT_ONCE)
            )
        )
    statuses = await factory.fetch(
        "SELECT status, count(*) AS n FROM requests WHERE association_id = ANY(%s) GROUP BY status",
        [w.association_id for w in worlds],
    )
    decided = {row["status"]: row["n"] for row in statuses}
    assert sum(decided.values()) == LIFECYCLES
    assert set(decided) == {"agreed", "rejected"}  # none expired, none auto-agreed, none pending


async def test_an_operator_cancels_through_the_admin_api_under_the_tokens_name(api, factory):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    operator = await factory.token("operator", "olivia")
    cancelled = await api.post(
        f"/v1/admin/disassociations/{request['id']}/cancel",
        json={"reason": "Entered by mistake"},
        headers=bearer(operator),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["decided_by"] == "operator:olivia"
    assert cancelled.json()["decision_reason"] == "Entered by mistake"
    association = await api.get(
        f"/v1/associations/{world.association_id}", headers=bearer(world.customer)
    )
    assert association.json()["status"] == "active"
    events = await factory.fetch(
        "SELECT recipient_kind FROM notifications WHERE request_id = %s"
        " AND event_type = 'disassociation.cancelled'",
        request["id"],
    )
    assert sorted(e["recipient_kind"] for e in events) == ["customer", "partner"]
    [record] = await factory.fetch(
        "SELECT actor, reason FROM association_records WHERE request_id = %s"
        " AND action = 'cancelled'",
        request["id"],
    )
    assert record == {"actor": "operator:olivia", "reason": "Entered by mistake"}
    # The association is free again: a new request can be made (the limit counts this one).
    again = await submit(api, world.partner_admin, world.association_id)
    assert again.status_code == 201, again.text


async def test_operators_agree_and_reject_for_the_counterpart(api, factory):
    operator = await factory.token("operator", "oscar")
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    reject_without_reason = await api.post(
        f"/v1/admin/disassociations/{request['id']}/reject", json={}, headers=bearer(operator)
    )
    assert_problem(reject_without_reason, 422, "validation_error")
    agreed = await api.post(
        f"/v1/admin/disassociations/{request['id']}/agree", headers=bearer(operator)
    )
    assert agreed.status_code == 200, agreed.text
    assert (agreed.json()["status"], agreed.json()["decided_by"]) == ("agreed", "operator:oscar")
    again = await api.post(
        f"/v1/admin/disassociations/{request['id']}/cancel",
        json={"reason": "late"},
        headers=bearer(operator),
    )
    assert assert_problem(again, 409, "not_pending")["request_status"] == "agreed"
    unknown = await api.post(
        "/v1/admin/disassociations/00000000-0000-4000-8000-00000000dead/agree",
        headers=bearer(operator),
    )
    assert_problem(unknown, 404, "not_found")


async def test_a_cancel_racing_a_decision_yields_one_outcome(api, factory, dev_env):
    """The counterpart agrees and an operator cancels the workflow in the Temporal UI at the same
    moment: one of them wins, and only its effects exist."""
    for _ in range(8):
        world = await factory.world()
        request = (await submit(api, world.customer, world.association_id)).json()
        handle = dev_env.client.get_workflow_handle(f"disassociation-{request['id']}")
        agreed, _ = await asyncio.gather(
            decide(api, world.partner_admin, request["id"], "agree"), handle.cancel()
        )
        await handle.result()  # the workflow completes, whichever won
        final = (
            await api.get(f"/v1/disassociations/{request['id']}", headers=bearer(world.customer))
        ).json()
        assert final["status"] in ("agreed", "cancelled")
        if agreed.status_code == 200:
            assert final["status"] == "agreed"
        else:
            assert assert_problem(agreed, 409, "not_pending")["request_status"] == "cancelled"
        outcome_records = await factory.fetch(
            "SELECT action FROM association_records WHERE request_id = %s AND kind = 'disassociation'"
            " AND action <> 'requested'",
            request["id"],
        )
        assert [r["action"] for r in outcome_records] == [final["status"]]
        association = (
            await factory.fetch(
                "SELECT status FROM associations WHERE id = %s", world.association_id
            )
        )[0]["status"]
        assert association == ("ended" if final["status"] == "agreed" else "active")
        outcome_notes = await factory.count(
            "SELECT count(*) FROM notifications WHERE request_id = %s AND event_type = %s",
            request["id"], f"disassociation.{final['status']}",
        )  # fmt: skip
        assert outcome_notes == 2  # both sides, once


async def test_a_cancelled_workflow_settles_its_request_and_completes(api, factory, dev_env):
    world = await factory.world()
    request = (await submit(api, world.partner_admin, world.association_id)).json()
    handle = dev_env.client.get_workflow_handle(f"disassociation-{request['id']}")
    await handle.cancel()  # the Temporal UI's "Request Cancellation"
    outcome = await handle.result()
    assert outcome["outcome"] == "cancelled"
    assert (await handle.describe()).status.name == "COMPLETED"
    final = (
        await api.get(f"/v1/disassociations/{request['id']}", headers=bearer(world.customer))
    ).json()
    assert final["status"] == "cancelled"
    assert final["decided_by"] == "temporal_ui:workflow-cancellation (unverified)"
    withdraw = await decide(api, world.partner_admin, request["id"], "withdraw")
    assert assert_problem(withdraw, 409, "not_pending")["request_status"] == "cancelled"


async def test_submit_is_503_while_temporal_is_unreachable_and_keeps_the_code(
    settings, factory, clock, dev_env, dev_worker
):
    # Nothing listens on port 9.
    nowhere = await Client.connect("127.0.0.1:9", lazy=True, data_converter=pydantic_data_converter)
    world = await factory.world()
    _, person = await factory.customer_user(world.customer_id)
    async with _LifespanClient(create_app(settings, temporal=nowhere)) as api:
        app, _ = await enrol(api, person, clock)
        await require_verification(api, person)
        code = app.code(clock.at)
        down = await submit(api, person, world.association_id, verification_code=code)
        assert_problem(down, 503, "temporarily_unavailable")
        assert int(down.headers["retry-after"]) >= 1
    # Nothing happened, so the code was given back: the same code works once Temporal answers.
    async with _LifespanClient(create_app(settings, temporal=dev_env.client)) as api:
        retried = await submit(api, person, world.association_id, verification_code=code)
        assert retried.status_code == 201, retried.text


async def test_a_refused_submit_does_not_use_up_the_verification_code(api, factory, pool, clock):
    world = await factory.world(standing=AccountStanding(currency_set=False))
    _, person = await factory.customer_user(world.customer_id)
    app, _ = await enrol(api, person, clock)
    await require_verification(api, person)
    code = app.code(clock.at)
    refused = await submit(api, person, world.association_id, verification_code=code)
    assert_problem(refused, 422, "check_failed")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE account_standing SET currency_set = true WHERE customer_id = %s",
            (world.customer_id,),
        )
    accepted = await submit(api, person, world.association_id, verification_code=code)
    assert accepted.status_code == 201, accepted.text


async def test_a_customer_may_not_start_over_with_its_next_partner_at_once(api, factory):
    """The source document: one request by a customer in 3 months, across its associations."""
    world = await factory.world()
    first = (await submit(api, world.customer, world.association_id)).json()
    agreed = await decide(api, world.partner_admin, first["id"], "agree")
    assert agreed.json()["status"] == "agreed"
    next_partner = await factory.partner()
    moved = await factory.association(next_partner, world.customer_id)
    refused = await submit(api, world.customer, moved)
    body = assert_problem(refused, 409, "request_limit_reached")
    assert body["next_allowed_at"]
    [limit] = [i for i in body["items"] if i["code"] == "within_request_limit"]
    assert "across all of the customer's associations" in limit["message"]
    # The partner side counts per association: the new partner may still ask.
    _, next_partner_admin = await factory.user(next_partner, ["admin"])
    assert (await submit(api, next_partner_admin, moved)).status_code == 201


async def test_the_customer_limit_can_count_per_association(settings, dev_env, dev_worker, factory):
    per_association = settings.model_copy(update={"customer_limit_scope": "association"})
    async with _LifespanClient(create_app(per_association, temporal=dev_env.client)) as api:
        world = await factory.world()
        first = (await submit(api, world.customer, world.association_id)).json()
        await decide(api, world.partner_admin, first["id"], "agree")
        moved = await factory.association(await factory.partner(), world.customer_id)
        assert (await submit(api, world.customer, moved)).status_code == 201


def updates_accepted(events) -> list[str]:
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


@dataclass
class HeldSettle:
    api: httpx.AsyncClient
    committed: asyncio.Event
    release: asyncio.Event


@contextlib.asynccontextmanager
async def agree_held_after_its_commit(database_url, pool, dev_env) -> AsyncIterator[HeldSettle]:
    """The API, and a worker whose settle of an agreement commits and then waits for `release`:
    its workflow task stays open while the test sends a message."""
    queue = f"held-settle-{uuid4().hex[:8]}"
    committed, release = asyncio.Event(), asyncio.Event()
    acts = RequestActivities(pool, PostgresStanding(pool))

    @activity.defn(name="settle_request")
    async def settle_then_hold(inp: SettleInput) -> RequestSnapshot:
        settled = await acts.settle_request(inp)
        if inp.outcome is RequestStatus.AGREED:
            committed.set()
            await release.wait()
        return settled

    worker = Worker(
        dev_env.client,
        task_queue=queue,
        workflow_runner=WORKFLOW_RUNNER,
        workflows=[RequestWorkflow],
        activities=[acts.accept_request, settle_then_hold, acts.send_reminder],
        deployment_config=deployment_config(WORKER_VERSION),
    )
    settings = make_settings(database_url, queue, **WEBHOOKS)
    async with worker, api_client(settings, dev_env.client) as api:
        try:
            yield HeldSettle(api, committed, release)
        finally:
            release.set()  # never leave the worker waiting on a held settle


async def outcome_records(factory, request_id) -> list[str]:
    rows = await factory.fetch(
        "SELECT action FROM association_records WHERE request_id = %s AND kind = 'disassociation'"
        " AND action <> 'requested'",
        request_id,
    )
    return [r["action"] for r in rows]


async def test_a_decision_whose_workflow_task_a_cancellation_undid_is_answered_with_its_outcome(
    database_url, pool, factory, dev_env, clock
):
    """The counterpart's agree has settled the request in PostgreSQL when an operator cancels the
    workflow, before the workflow task that ran the settle completes. Temporal refuses that task
    (a message arrived meanwhile), so the history never records the agree; the cancellation's own
    settle then finds the request agreed. The agree is the outcome, and its sender is told so: 200
    agreed, not 409 'no longer pending' for its own decision; and the verification code it spent
    stays spent."""
    async with agree_held_after_its_commit(database_url, pool, dev_env) as held:
        world = await factory.world()
        request = (await submit(held.api, world.customer, world.association_id)).json()
        app, _ = await enrol(held.api, world.partner_admin, clock)
        await require_verification(held.api, world.partner_admin)
        code = app.code(clock.at)
        handle = dev_env.client.get_workflow_handle(f"disassociation-{request['id']}")
        agreeing = asyncio.create_task(
            decide(held.api, world.partner_admin, request["id"], "agree", verification_code=code)
        )
        await asyncio.wait_for(held.committed.wait(), 30)
        await handle.cancel()  # arrives while the settle's workflow task is still running
        held.release.set()
        agreed = await agreeing
        outcome = await handle.result()
        other = await second_association(factory, world)
        replayed = await submit(held.api, world.partner_admin, other, verification_code=code)

    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "agreed"
    assert outcome["outcome"] == "agreed"
    events = (await handle.fetch_history()).events
    # The race did happen: the task that applied the agree failed, and the history holds no agree.
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED in [event.event_type for event in events]
    assert updates_accepted(events) == ["admission"]
    assert await outcome_records(factory, request["id"]) == ["agreed"]
    assert_problem(replayed, 422, "verification_code_incorrect")  # not given back
