"""Races, for each kind of request (disassociations, type changes): many submits on one
association; every kind of decision at once on one request (two decisions, a decision and a
withdrawal); a decision sent around the deadline; and a type change and a disassociation asked for
in the same instant on one association, which only one request of any kind may have pending.

And partner changes, whose two consents are awaited together: both consents in the same instant
(each partner answering twice); an agreement against a decline; a withdrawal against the new
partner's acceptance (with and without the current partner's agreement); an acceptance around the
deadline. Each settles once, the customer moves once or not at all, and every answer taken is on
the request and on record."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest
from httpx import Response
from temporalio import activity
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.requests import RequestActivities
from contract import ConsentInput, RequestSnapshot
from domain import kinds
from domain.types import (
    Actor,
    Decision,
    DecisionAction,
    Party,
    RequestKind,
    RequestStatus,
    Side,
)
from store.accounts import PostgresStanding
from tests.api.test_partner_changes import new_partner
from tests.conftest import WORKER_VERSION, api_client
from tests.factories import World, bearer, command
from tests.reliability.harness import (
    FROM_TYPE,
    NEW_TYPE,
    decide,
    record_figures,
    submit,
)
from worker import deployment_config
from workflows import starter
from workflows.request import RequestWorkflow

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


# --- partner changes: two consents awaited together ------------------------------------------

PARTNER_CHANGE = RequestKind.PARTNER_CHANGE
MOVES = 10  # requests of each race
# Where each answer is kept on the request, and the record a consent leaves while the other
# consent is still awaited (a refusal's is the outcome's own).
ANSWER_COLUMN = {
    "agree": "current_partner_decision",
    "reject": "current_partner_decision",
    "accept": "new_partner_decision",
    "decline": "new_partner_decision",
}
CONSENT_RECORD = {"agree": "agreed", "accept": "accepted"}


async def a_move(api, factory) -> tuple[World, UUID, str, str]:
    """A customer of a reseller asking to move to another partner: (its world, the new partner,
    a token of the new partner's admin, the pending request's id)."""
    world = await factory.world()
    target, target_admin = await new_partner(factory)
    return world, target, target_admin, await ask_to_move(api, world, target)


async def ask_to_move(api, world: World, target: UUID) -> str:
    asked = await submit(api, PARTNER_CHANGE, world.customer, world.association_id, target)
    assert asked.status_code == 201, asked.text
    return asked.json()["id"]


async def moved_as_told(
    factory, world: World, target: UUID, request_id: str, outcome: str, taken: set[str]
) -> None:
    """The partner change settled once as `outcome`, and the customer shows it: completed, the old
    association ended by it and one new one with the new partner begun by it (each recorded once,
    naming the request); otherwise the customer still with its partner and no association with
    the new one. Either way the customer has exactly one active association.

    `taken` are the partners' answers the API took (answered 200: `agree`, `accept`, ...): each is
    kept on the request, and each consent that did not itself settle the request (given while the
    other was awaited) is on record and told to all three parties, once, whatever the order in
    which the answers and the settlement reached the workflow."""
    [request] = await factory.fetch(
        "SELECT status, decided_by, new_association_id, completed_at, current_partner_decision,"
        " new_partner_decision FROM requests WHERE id = %s",
        request_id,
    )
    assert request["status"] == outcome
    kept = {
        action
        for action, column in ANSWER_COLUMN.items()
        if request[column] is not None and request[column]["decision"] == action
    }
    assert kept == taken, request
    on_its_own = sorted(
        CONSENT_RECORD[action]
        for action in taken
        if action in CONSENT_RECORD
        and request[ANSWER_COLUMN[action]]["by"] != request["decided_by"]
    )
    completed = outcome == "completed"
    [old] = await factory.fetch(
        "SELECT status, ended_by_request_id::text FROM associations WHERE id = %s",
        world.association_id,
    )
    active = await factory.fetch(
        "SELECT id, partner_id FROM associations WHERE customer_id = %s AND status = 'active'",
        world.customer_id,
    )
    with_target = await factory.fetch(
        "SELECT id, status FROM associations WHERE customer_id = %s AND partner_id = %s",
        world.customer_id,
        target,
    )
    if completed:
        assert old == {"status": "ended", "ended_by_request_id": request_id}
        assert active == [{"id": request["new_association_id"], "partner_id": target}]
        assert with_target == [{"id": request["new_association_id"], "status": "active"}]
        assert request["completed_at"] is not None
    else:
        assert old == {"status": "active", "ended_by_request_id": None}
        assert active == [{"id": world.association_id, "partner_id": world.partner_id}]
        assert with_target == []
        assert request["new_association_id"] is None and request["completed_at"] is None
    records = await factory.fetch(
        "SELECT kind || ':' || action AS action, association_id FROM association_records"
        " WHERE request_id = %s",
        request_id,
    )
    assert sorted(r["action"] for r in records) == sorted(
        [
            "partner_change:requested",
            *(f"partner_change:{answer}" for answer in on_its_own),
            f"partner_change:{outcome}",
            *(["association:ended", "association:associated"] if completed else []),
        ]
    ), (request, records)
    if completed:
        changed = {r["action"]: r["association_id"] for r in records if r["action"] in MOVED}
        assert changed == {
            "association:ended": world.association_id,
            "association:associated": request["new_association_id"],
        }
    notes = await factory.fetch(
        "SELECT event_type FROM notifications WHERE request_id = %s", request_id
    )
    assert Counter(n["event_type"] for n in notes) == Counter(
        {
            "partner_change.requested": 2,  # both partners
            **{f"partner_change.{answer}": 3 for answer in on_its_own},  # all three parties
            f"partner_change.{outcome}": 3,
            **({"association.ended": 2, "association.started": 2} if completed else {}),
        }
    ), request


MOVED = ("association:ended", "association:associated")


def refused(response: Response, code: str, request_status: str | None = None) -> bool:
    if response.status_code != 409 or response.json()["code"] != code:
        return False
    return request_status is None or response.json()["request_status"] == request_status


async def test_both_consents_at_once_complete_the_move_once(api, factory):
    """Each partner answers twice in the same instant (the current partner agrees, the new
    partner accepts, each once more): one answer of each partner is taken, the other refused
    (`already_answered`, or `not_pending` once the request completed); the request completes
    once, the old association ends once, one new one begins, and the consent given first is on
    record."""
    refusals: Counter[str] = Counter()
    for _ in range(MOVES):
        world, target, target_admin, request_id = await a_move(api, factory)
        sent = ["agree", "accept", "agree", "accept"]
        token = {"agree": world.partner_admin, "accept": target_admin}
        responses = await asyncio.gather(
            *(decide(api, PARTNER_CHANGE, token[action], request_id, action) for action in sent)
        )
        for action in ("agree", "accept"):
            answers = [r for s, r in zip(sent, responses, strict=True) if s == action]
            [ok] = [r for r in answers if r.status_code == 200]
            assert ok.json()["status"] in ("pending", "completed"), ok.text
            [no] = [r for r in answers if r.status_code != 200]
            assert refused(no, "already_answered") or refused(no, "not_pending", "completed"), (
                no.text
            )
            refusals[no.json()["code"]] += 1
        await moved_as_told(factory, world, target, request_id, "completed", {"agree", "accept"})
    record_figures(
        "race_partner_change_consents", requests=MOVES, concurrent_answers_each=4,
        completed=MOVES, refused=dict(refusals), completed_twice=0,
    )  # fmt: skip


async def test_an_agree_and_a_decline_at_once_leave_the_customer_where_it_is(api, factory):
    """The current partner agrees while the new partner declines: whichever the workflow takes
    first, the request is declined (an agreement leaves it pending), and the customer stays."""
    orders: Counter[str] = Counter()
    for _ in range(MOVES):
        world, target, target_admin, request_id = await a_move(api, factory)
        agreed, declined = await asyncio.gather(
            decide(api, PARTNER_CHANGE, world.partner_admin, request_id, "agree"),
            decide(api, PARTNER_CHANGE, target_admin, request_id, "decline", reason="no room"),
        )
        assert declined.status_code == 200 and declined.json()["status"] == "declined"
        if agreed.status_code == 200:
            assert agreed.json()["status"] in ("pending", "declined"), agreed.text
        else:
            assert refused(agreed, "not_pending", "declined"), agreed.text
        orders["agreed, then declined" if agreed.status_code == 200 else "declined"] += 1
        taken = {"decline", *(["agree"] if agreed.status_code == 200 else [])}
        await moved_as_told(factory, world, target, request_id, "declined", taken)
    record_figures(
        "race_partner_change_agree_vs_decline", requests=MOVES, outcomes=dict(orders),
        customers_moved=0,
    )  # fmt: skip


async def test_a_withdrawal_against_an_acceptance_ends_the_request_once(api, factory):
    """The customer withdraws while the new partner accepts. With the current partner's agreement
    given already, exactly one of them is taken and ends the request, withdrawn or completed,
    never both; without it, an acceptance leaves the request pending, so the withdrawal always
    ends it (the acceptance taken before it, or refused)."""
    outcomes: Counter[str] = Counter()
    for n in range(MOVES * 2):
        world, target, target_admin, request_id = await a_move(api, factory)
        agreed_before = n % 2 == 0
        if agreed_before:
            agreed = await decide(api, PARTNER_CHANGE, world.partner_admin, request_id, "agree")
            assert agreed.status_code == 200 and agreed.json()["status"] == "pending", agreed.text
        withdrawn, accepted = await asyncio.gather(
            decide(api, PARTNER_CHANGE, world.customer, request_id, "withdraw"),
            decide(api, PARTNER_CHANGE, target_admin, request_id, "accept"),
        )
        if agreed_before:
            [taken] = [r for r in (withdrawn, accepted) if r.status_code == 200]
            outcome = "withdrawn" if taken is withdrawn else "completed"
            assert taken.json()["status"] == outcome, taken.text
            [lost] = [r for r in (withdrawn, accepted) if r is not taken]
            assert refused(lost, "not_pending", outcome), lost.text
        else:
            outcome = "withdrawn"
            assert withdrawn.status_code == 200, withdrawn.text
            assert withdrawn.json()["status"] == "withdrawn", withdrawn.text
            if accepted.status_code == 200:
                assert accepted.json()["status"] in ("pending", "withdrawn"), accepted.text
            else:
                assert refused(accepted, "not_pending", "withdrawn"), accepted.text
        taken_answers = {
            *(["agree"] if agreed_before else []),
            *(["accept"] if accepted.status_code == 200 else []),
        }
        label = "agreed before" if agreed_before else "not agreed"
        outcomes[f"{label}: accept {'taken' if accepted.status_code == 200 else 'refused'},"
                 f" {outcome}"] += 1  # fmt: skip
        await moved_as_told(factory, world, target, request_id, outcome, taken_answers)
    record_figures(
        "race_partner_change_withdraw_vs_accept", requests=MOVES * 2, outcomes=dict(outcomes),
        ended_twice=0,
    )  # fmt: skip


async def test_an_acceptance_around_the_deadline_completes_only_before_it(
    settings, dev_env, dev_worker, factory
):
    """Partner changes with a 2 s window; the new partner accepts each at a moment around its
    deadline (half of them agreed to by the current partner at once, the others left to its
    silence, which agrees on the deadline). A request completes exactly when the acceptance was
    taken before `respond_by` (answered 200: completed at once where the current partner had
    agreed, else by the deadline); otherwise the acceptance is answered 409 `not_pending`
    `expired` and the request expired at or after `respond_by`. An acceptance sent at or after
    `respond_by` always loses."""
    short = settings.model_copy(update={"response_window": WINDOW, "reminder_before": timedelta(0)})
    parties = [(await factory.world(), *await new_partner(factory)) for _ in OFFSETS]
    async with api_client(short, dev_env.client) as api:
        asked = await asyncio.gather(*(ask_to_move(api, w, target) for w, target, _ in parties))
        moves = [(*party, request_id) for party, request_id in zip(parties, asked, strict=True)]
        agreed = await asyncio.gather(
            *(
                decide(api, PARTNER_CHANGE, world.partner_admin, request_id, "agree")
                for world, _, _, request_id in moves[::2]
            )
        )
        assert {r.json()["status"] for r in agreed} == {"pending"}, [r.text for r in agreed]
        requests = [
            (await api.get(f"/v1/partner-changes/{m[3]}", headers=bearer(m[0].customer))).json()
            for m in moves
        ]

        async def accept_at(n: int, request: dict) -> tuple[bool, Response]:
            respond_by = datetime.fromisoformat(request["respond_by"]).timestamp()
            await asyncio.sleep(max(0.0, respond_by + OFFSETS[n] - time.time()))
            sent_late = time.time() >= respond_by
            answer = await decide(api, PARTNER_CHANGE, moves[n][2], request["id"], "accept")
            return sent_late, answer

        answered = await asyncio.gather(*(accept_at(n, r) for n, r in enumerate(requests)))
    won: Counter[str] = Counter()
    for n, ((world, target, _, request_id), (sent_late, answer)) in enumerate(
        zip(moves, answered, strict=True)
    ):
        agreed_before = n % 2 == 0
        if answer.status_code == 200:
            assert not sent_late, answer.text
            outcome = "completed"
            # Where the current partner's silence is still to agree, the request completes on
            # the deadline: pending until then.
            assert answer.json()["status"] in (
                ("completed",) if agreed_before else ("pending", "completed")
            ), answer.text
        else:
            outcome = "expired"
            assert refused(answer, "not_pending", "expired"), answer.text
        won["acceptance" if answer.status_code == 200 else "deadline"] += 1
        won["deadline, the acceptance sent before it"] += (
            answer.status_code == 409 and not sent_late
        )
        for _ in range(100):  # the deadline's outcome, once stored
            [row] = await factory.fetch(
                "SELECT status, decided_at, respond_by, new_partner_decision FROM requests"
                " WHERE id = %s",
                request_id,
            )
            if row["status"] != "pending":
                break
            await asyncio.sleep(0.1)
        # Settled by the acceptance itself only where the current partner had agreed already.
        by_deadline = outcome == "expired" or not agreed_before
        assert (row["decided_at"] >= row["respond_by"]) == by_deadline, row
        if outcome == "completed":  # the acceptance was taken before the deadline
            accepted_at = datetime.fromisoformat(row["new_partner_decision"]["at"])
            assert accepted_at < row["respond_by"], row
        taken = {
            *(["agree"] if agreed_before else []),
            *(["accept"] if answer.status_code == 200 else []),
        }
        await moved_as_told(factory, world, target, request_id, outcome, taken)
    record_figures(
        "race_deadline_partner_change", requests=len(OFFSETS), won=dict(won), settled_twice=0
    )


HELD_TASK_TIMEOUT = timedelta(seconds=2)  # the worker renews a held step's task at 80% of it


async def test_a_consent_overtaken_by_the_completion_is_still_on_record(
    dev_env, dev_worker, pool, factory
):
    """The race the consents above run into now and then, made certain: the current partner's
    agreement is taken, but its recording (a step of its own) is held until the new partner's
    acceptance has completed the request. The agreement is kept on the request; it must be on
    record and told to every party too, as when it is recorded first: a party's answer on the
    request that no record or notification shows is an answer the audit trail and the webhooks
    never had."""
    world = await factory.world()
    target = await factory.partner()
    target_admin_id, _ = await factory.user(target, ["admin"])
    recording, held = asyncio.Event(), asyncio.Event()
    steps = RequestActivities(pool, PostgresStanding(pool))

    @activity.defn(name="record_consent")
    async def record_consent_when_released(inp: ConsentInput) -> RequestSnapshot:
        recording.set()
        await held.wait()
        return await steps.record_consent(inp)

    cmd = command(
        world, kind=PARTNER_CHANGE, new_partner_id=target, new_partner_name="new reseller"
    )
    task_queue = f"held-{uuid4().hex[:8]}"
    client = dev_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[RequestWorkflow],
        activities=[steps.accept_request, steps.settle_request, steps.send_reminder,
                    record_consent_when_released],
        deployment_config=deployment_config(WORKER_VERSION),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):  # fmt: skip
        handle = await starter.start(client, cmd, task_queue, task_timeout=HELD_TASK_TIMEOUT)
        await handle.execute_update(RequestWorkflow.admission)
        by_partner = Actor(kind="partner_user", id=str(world.partner_admin_id), side=Side.PARTNER)
        by_target = Actor(kind="partner_user", id=str(target_admin_id), side=Side.PARTNER)
        agreeing = asyncio.create_task(
            starter.decide(
                client, handle.id,
                Decision(action=DecisionAction.AGREE, actor=by_partner, party=Party.PARTNER),
            )
        )  # fmt: skip
        await asyncio.wait_for(recording.wait(), 30)  # the agreement taken, its record held
        # Handled when the worker renews the task the held step keeps open: the acceptance
        # completes the request (the workflow claims the outcome) while the agreement's record
        # is still to be written.
        accepting = asyncio.create_task(
            starter.decide(
                client, handle.id,
                Decision(action=DecisionAction.ACCEPT, actor=by_target, party=Party.NEW_PARTNER),
            )
        )  # fmt: skip
        for _ in range(300):
            state = await handle.query(RequestWorkflow.state)
            if state.settling_as is not None:
                break
            await asyncio.sleep(0.05)
        assert state.settling_as is RequestStatus.COMPLETED, state
        await asyncio.sleep(1)  # the settling step's time to run, if it does not wait
        held.set()
        answers = await asyncio.wait_for(asyncio.gather(agreeing, accepting), 30)
        assert answers[1].status is RequestStatus.COMPLETED
        await asyncio.wait_for(handle.result(), 30)
    await moved_as_told(
        factory, world, target, str(cmd.request_id), "completed", {"agree", "accept"}
    )
