"""Races, for each kind of request (disassociations, type changes): many submits on one
association; every kind of decision at once on one request (two decisions, a decision and a
withdrawal); a decision sent around the deadline; and a type change and a disassociation asked for
in the same instant on one association, which only one request of any kind may have pending."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from httpx import Response

from domain import kinds
from domain.types import RequestKind
from tests.conftest import api_client
from tests.factories import World, bearer
from tests.reliability.harness import (
    FROM_TYPE,
    NEW_TYPE,
    decide,
    record_figures,
    submit,
)

pytestmark = pytest.mark.devserver

DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE
by_kind = pytest.mark.parametrize("kind", [DISASSOCIATION, TYPE_CHANGE], ids=lambda k: k.value)

SUBMITS = 50
REQUESTS = 10
DECISIONS_EACH = 9  # three agrees, three rejects, three withdrawals
# The partner's people who may ask for and answer each kind (the admin holds every permission;
# the others `disassociations:*` only).
SUBMITTERS = {
    DISASSOCIATION: ("partner_admin", "partner_submitter"),
    TYPE_CHANGE: ("partner_admin",),
}
PROCESSOR = {DISASSOCIATION: "partner_processor", TYPE_CHANGE: "partner_admin"}
# What a customer's request left to its deadline becomes.
ON_DEADLINE = {DISASSOCIATION: "auto_agreed", TYPE_CHANGE: "expired"}


@pytest.fixture
async def unlimited_api(settings, dev_env, dev_worker):
    """The API in-process without the submit rate limit: these races are about the rest."""
    unlimited = settings.model_copy(update={"rate_limit_submit": "1000/minute"})
    async with api_client(unlimited, dev_env.client) as api:
        yield api


async def settled_as_told(factory, world: World, kind: RequestKind, request_id: str, outcome: str):
    """The request settled once as `outcome`, and its association shows it: each record and
    notification once, the change an agreement makes made once, and nothing else changed."""
    [request] = await factory.fetch("SELECT status FROM requests WHERE id = %s", request_id)
    assert request["status"] == outcome
    agreed = outcome in ("agreed", "auto_agreed")
    change = {DISASSOCIATION: "association:ended", TYPE_CHANGE: "type_change:type_changed"}[kind]
    records = await factory.fetch(
        "SELECT kind || ':' || action AS action FROM association_records WHERE request_id = %s",
        request_id,
    )
    assert sorted(r["action"] for r in records) == sorted(
        [f"{kind.value}:requested", f"{kind.value}:{outcome}", *([change] if agreed else [])]
    )
    [association] = await factory.fetch(
        "SELECT status, association_type FROM associations WHERE id = %s", world.association_id
    )
    ends, changes = agreed and kind is DISASSOCIATION, agreed and kind is TYPE_CHANGE
    assert association == {
        "status": "ended" if ends else "active",
        "association_type": NEW_TYPE if changes else FROM_TYPE,
    }
    notes = await factory.fetch(
        "SELECT event_type, recipient_kind FROM notifications WHERE request_id = %s", request_id
    )
    told = Counter(n["event_type"] for n in notes)
    effect = "association.ended" if kind is DISASSOCIATION else "association.type_changed"
    assert told == Counter(
        {
            f"{kind.value}.requested": 1,
            f"{kind.value}.{outcome}": 2,
            **({effect: 2} if agreed else {}),
        }
    )


@by_kind
async def test_fifty_concurrent_submits_accept_exactly_one(unlimited_api, factory, kind):
    world = await factory.world()
    tokens = [world.customer, *(getattr(world, who) for who in SUBMITTERS[kind])] * SUBMITS
    responses = await asyncio.gather(
        *(submit(unlimited_api, kind, t, world.association_id) for t in tokens[:SUBMITS])
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: SUBMITS - 1}, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"request_pending"}
    rows = await factory.fetch(
        "SELECT kind, status FROM requests WHERE association_id = %s", world.association_id
    )
    assert rows == [{"kind": kind.value, "status": "pending"}]
    record_figures(
        f"race_submits_{kind.value}", concurrent_submits=SUBMITS, accepted=1,
        refused=SUBMITS - 1, duplicated=0,
    )  # fmt: skip


@by_kind
async def test_concurrent_agree_reject_withdraw_settle_each_request_once(api, factory, kind):
    outcomes: Counter = Counter()
    for _ in range(REQUESTS):
        world = await factory.world()
        request_id = (await submit(api, kind, world.customer, world.association_id)).json()["id"]
        processor = getattr(world, PROCESSOR[kind])
        attempts = [decide(api, kind, world.partner_admin, request_id, "agree") for _ in range(3)]
        attempts += [
            decide(api, kind, processor, request_id, "reject", reason="no") for _ in range(3)
        ]
        attempts += [decide(api, kind, world.customer, request_id, "withdraw") for _ in range(3)]
        responses = await asyncio.gather(*attempts)
        winners = [r.json() for r in responses if r.status_code == 200]
        losers = [r.json() for r in responses if r.status_code != 200]
        assert len(winners) == 1 and len(losers) == DECISIONS_EACH - 1
        outcome = winners[0]["status"]
        outcomes[outcome] += 1
        assert all(
            body["code"] == "not_pending" and body["request_status"] == outcome for body in losers
        )
        await settled_as_told(factory, world, kind, request_id, outcome)
    record_figures(
        f"race_decisions_{kind.value}", requests=REQUESTS,
        concurrent_decisions_each=DECISIONS_EACH, outcomes=dict(outcomes), settled_twice=0,
    )  # fmt: skip


WINDOW = timedelta(seconds=2)
# When each decision is sent, relative to its request's `respond_by`: from well before it (the
# decision can only win) to after it (it can only lose), most of them within the few milliseconds
# before it, where the decision and the deadline's timer reach the workflow in either order.
OFFSETS = (-0.5, -0.1, -0.04, -0.03, -0.02, -0.015, -0.01, -0.005, -0.002, 0.0, 0.05, 0.3)


@by_kind
async def test_a_decision_around_the_deadline_settles_the_request_once(
    settings, dev_env, dev_worker, factory, kind
):
    """Customers' requests with a 2 s window; the partner agrees to or rejects each at a moment
    around its deadline. Each request settles once: as the decision (answered 200, decided before
    `respond_by`), or as the deadline's outcome (the decision answered 409 `not_pending` with that
    status, settled at or after `respond_by`), whatever the order the two reach the workflow; a
    decision sent at or after `respond_by` always loses."""
    short = settings.model_copy(update={"response_window": WINDOW, "reminder_before": timedelta(0)})
    worlds = [await factory.world() for _ in OFFSETS]
    async with api_client(short, dev_env.client) as api:
        submitted = await asyncio.gather(
            *(submit(api, kind, w.customer, w.association_id) for w in worlds)
        )
        assert {r.status_code for r in submitted} == {201}, [r.text for r in submitted]

        async def decide_at(n: int, request: dict) -> tuple[bool, str, Response]:
            respond_by = datetime.fromisoformat(request["respond_by"]).timestamp()
            await asyncio.sleep(max(0.0, respond_by + OFFSETS[n] - time.time()))
            sent_late = time.time() >= respond_by
            action, body = ("agree", {}) if n % 2 == 0 else ("reject", {"reason": "no"})
            answer = await decide(api, kind, worlds[n].partner_admin, request["id"], action, **body)
            return sent_late, action, answer

        answered = await asyncio.gather(*(decide_at(n, r.json()) for n, r in enumerate(submitted)))
    won: Counter[str] = Counter()
    for world, request, (sent_late, action, answer) in zip(
        worlds, (r.json() for r in submitted), answered, strict=True
    ):
        if answer.status_code == 200:
            assert not sent_late, answer.text
            outcome = {"agree": "agreed", "reject": "rejected"}[action]
            assert answer.json()["status"] == outcome
        else:
            assert answer.status_code == 409, answer.text
            outcome = ON_DEADLINE[kind]
            assert (answer.json()["code"], answer.json()["request_status"]) == (
                "not_pending", outcome,
            )  # fmt: skip
        won["decision" if answer.status_code == 200 else "deadline"] += 1
        # The races the workflow judged: sent before the deadline, the timer got there first.
        won["deadline, the decision sent before it"] += answer.status_code == 409 and not sent_late
        # A refused decision may have been judged by the API before the workflow settled the
        # request: wait for the deadline's outcome to be stored.
        for _ in range(100):
            [row] = await factory.fetch(
                "SELECT status, decided_at, respond_by FROM requests WHERE id = %s", request["id"]
            )
            if row["status"] != "pending":
                break
            await asyncio.sleep(0.1)
        assert (row["decided_at"] >= row["respond_by"]) == (outcome == ON_DEADLINE[kind]), row
        await settled_as_told(factory, world, kind, request["id"], outcome)
    record_figures(
        f"race_deadline_{kind.value}", requests=len(OFFSETS), won=dict(won), settled_twice=0
    )


PAIRS = 20
CHECKS = {DISASSOCIATION: "/v1/disassociation-checks", TYPE_CHANGE: "/v1/type-change-checks"}


async def test_a_type_change_and_a_disassociation_at_once_accept_exactly_one(
    unlimited_api, factory
):
    """On each of 20 associations a type change and a disassociation are asked for in the same
    instant (each side asking for each kind in turn): exactly one is accepted, the other is
    refused 409 `request_pending`, and its check names the request that is pending."""
    worlds = [await factory.world() for _ in range(PAIRS)]
    askers = [
        {TYPE_CHANGE: w.customer, DISASSOCIATION: w.partner_admin}
        if n % 2 == 0
        else {TYPE_CHANGE: w.partner_admin, DISASSOCIATION: w.customer}
        for n, w in enumerate(worlds)
    ]

    async def pair(world: World, asker: dict[RequestKind, str]) -> dict[RequestKind, Response]:
        tc, dis = await asyncio.gather(
            submit(unlimited_api, TYPE_CHANGE, asker[TYPE_CHANGE], world.association_id),
            submit(unlimited_api, DISASSOCIATION, asker[DISASSOCIATION], world.association_id),
        )
        return {TYPE_CHANGE: tc, DISASSOCIATION: dis}

    answered = await asyncio.gather(*(pair(w, a) for w, a in zip(worlds, askers, strict=True)))
    accepted: Counter[str] = Counter()
    for world, asker, answers in zip(worlds, askers, answered, strict=True):
        statuses = {kind: answer.status_code for kind, answer in answers.items()}
        assert sorted(statuses.values()) == [201, 409], [a.text for a in answers.values()]
        [winner] = [kind for kind, status in statuses.items() if status == 201]
        [loser] = [kind for kind, status in statuses.items() if status == 409]
        accepted[winner.value] += 1
        pending_id = answers[winner].json()["id"]
        refusal = answers[loser].json()
        assert refusal["code"] == "request_pending"
        # The refusal's failed items, and the check its asker runs afterwards, name the pending
        # request: its kind and its id.
        body = {"association_id": str(world.association_id)}
        body |= {"new_type": NEW_TYPE} if loser is TYPE_CHANGE else {}
        check = await unlimited_api.post(CHECKS[loser], json=body, headers=bearer(asker[loser]))
        assert check.status_code == 200, check.text
        for items in (refusal["items"], check.json()["items"]):
            [item] = [i for i in items if i["code"] == "no_pending_request"]
            assert not item["passed"]
            assert pending_id in item["message"] and kinds.of(winner).noun in item["message"], item
        rows = await factory.fetch(
            "SELECT id::text, kind, status FROM requests WHERE association_id = %s",
            world.association_id,
        )
        assert rows == [{"id": pending_id, "kind": winner.value, "status": "pending"}]
        requested = await factory.fetch(
            "SELECT kind, request_id::text FROM association_records WHERE association_id = %s"
            " AND action = 'requested'",
            world.association_id,
        )
        assert requested == [{"kind": winner.value, "request_id": pending_id}]
    record_figures(
        "race_type_change_vs_disassociation", pairs=PAIRS, accepted=dict(accepted),
        accepted_twice=0,
    )  # fmt: skip
