"""A hypothesis state machine drives random submits of every kind (disassociations, association
type changes, and a customer's moves to one of a few partners), decisions (by the right party and
the wrong one), withdrawals and the passing of time through the real API, and after every step
compares PostgreSQL with a small model of the SPEC's rules:

- a submit of any kind is refused with `request_pending` (naming the pending request) while a
  request of any kind is pending on the customer's association, then with `request_limit_reached`
  once the allowance is used (the customer's disassociations and partner changes together, across
  its associations; the partner's disassociations on its association; type changes per
  association, whoever asks), then with `check_failed` once the association has ended, for a
  type change to the type it has, or for a move to the partner it has; only the customer asks to
  move (403 for a partner); otherwise it is accepted;
- only the counterpart agrees or rejects and only the initiator withdraws (403 otherwise), and
  only while pending (409 with the request's status otherwise); a partner change awaits two
  consents together: the current partner agrees or rejects, the new partner accepts (choosing the
  new association's type) or declines, each once (409 `already_answered` for a second answer);
  the first refusal ends it, the second consent completes it;
- without an answer by `respond_by` a customer's disassociation is auto-agreed, a partner's
  expires, a type change expires whoever asked for it, and a partner change completes if the new
  partner accepted (the current partner's silence agrees) and expires otherwise;
- an agreed disassociation ends the association, once; an agreed type change changes its type to
  the one asked for, once; a completed partner change ends the association and begins the
  customer's one with the new partner, of the type it chose, once: the customer always has exactly
  one active association, until a disassociation ends it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import hypothesis
import psycopg
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from psycopg.rows import dict_row

from domain.types import RequestKind
from store.db import open_pool
from tests.factories import Factory
from tests.reliability.harness import FROM_TYPE, PATHS, record_figures, start_app_stack

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(600)]

WINDOW = 2.5  # seconds the counterpart has; "time passes" waits it out
LIMIT = 2  # disassociations per side per association, type changes per association
MARGIN = 1.0  # around a deadline the outcome is the server's to say: wait it out, then look
STEPS = {"n": 0, "waits": 0}
OUTCOMES: Counter[str] = Counter()  # "type_change:expired": requests of all runs, as they ended
RULES: Counter[str] = Counter()  # the steps of all runs, by rule
DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE
PARTNER_CHANGE = RequestKind.PARTNER_CHANGE
TYPES = ["referral", "advance_payment", "resale"]
AGREEMENTS = ("agreed", "auto_agreed")
OTHER_SIDE = {"customer": "partner", "partner": "customer"}
TARGETS = 2  # partners a customer may move to, besides the one it starts with
# A partner change's answers: whose consent each is, and what it does.
CONSENT_OF = {
    "agree": "partner",
    "reject": "partner",
    "accept": "new_partner",
    "decline": "new_partner",
}
REFUSED_AS = {"reject": "rejected", "decline": "declined"}
RECORDED_AS = {"agree": "agreed", "accept": "accepted"}  # a consent given while another awaited


@dataclass
class Request:
    id: str
    kind: RequestKind
    initiator: str
    respond_by: float  # epoch seconds
    association: Association
    new_type: str | None = None  # a type change's
    new_partner: str | None = None  # a partner change's
    status: str = "pending"
    # A partner change's consents given ("partner", "new_partner"), the type the new partner
    # chose, and the consents recorded on their own ("agreed", "accepted": given while the
    # other was awaited).
    given: set[str] = field(default_factory=set)
    chosen_type: str | None = None
    recorded: list[str] = field(default_factory=list)

    @property
    def on_deadline(self) -> str:
        if self.kind is PARTNER_CHANGE:
            return "completed" if "new_partner" in self.given else "expired"
        if self.kind is TYPE_CHANGE or self.initiator == "partner":
            return "expired"
        return "auto_agreed"


@dataclass
class Association:
    id: str
    partner: str
    type: str = FROM_TYPE
    ended: bool = False
    begun_by: str | None = None  # the partner change that began it
    requests: list[Request] = field(default_factory=list)

    @property
    def pending(self) -> Request | None:
        return next((r for r in self.requests if r.status == "pending"), None)


class Lifecycle(RuleBasedStateMachine):
    stack: dict = {}

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.stack["url"], timeout=40)
        world = self.stack["worlds"].pop()
        self.customer_id = str(world.customer_id)
        self.customer_token = world.customer
        # Every partner's admin: the customer's first partner, and those it may move to.
        self.partner_tokens = {str(world.partner_id): world.partner_admin} | {
            str(p): token for p, token in self.stack["targets"]
        }
        self.partners = list(self.partner_tokens)
        first = Association(str(world.association_id), str(world.partner_id))
        self.associations = [first]
        self.requests: list[Request] = []

    def teardown(self) -> None:
        self.http.close()
        OUTCOMES.update(f"{r.kind.value}:{r.status}" for r in self.requests)

    # --- helpers --------------------------------------------------------------------------

    @property
    def association(self) -> Association:
        """The customer's latest association: the one it acts on."""
        return self.associations[-1]

    def token(self, association: Association, side: str) -> str:
        return (
            self.partner_tokens[association.partner] if side == "partner" else self.customer_token
        )

    def used(self, kind: RequestKind, side: str) -> int:
        """What the limit of `kind` counts for `side`: the customer's disassociations and partner
        changes across its associations; the partner's disassociations on its association; every
        type change on the association."""
        if kind is TYPE_CHANGE:
            return sum(r.kind is TYPE_CHANGE for r in self.association.requests)
        if side == "partner":
            return sum(
                r.kind is DISASSOCIATION and r.initiator == "partner"
                for r in self.association.requests
            )
        return sum(r.kind is not TYPE_CHANGE and r.initiator == "customer" for r in self.requests)

    def let_deadlines_pass(self, only_due: bool) -> None:
        """Bring the model up to date with timeouts: a request past its deadline has been settled
        by the workflow (or is being: looked at until it is); one near its deadline is waited out
        so the outcome is certain."""
        for request in self.requests:
            if request.status != "pending":
                continue
            now = time.time()
            if only_due and now < request.respond_by - MARGIN:
                continue
            STEPS["waits"] += 1
            time.sleep(max(0.0, request.respond_by - now))
            self.await_status(request, request.on_deadline)

    def await_status(self, request: Request, status: str) -> None:
        for _ in range(100):
            seen = self.http.get(
                f"{PATHS[request.kind]}/{request.id}",
                headers={"Authorization": f"Bearer {self.customer_token}"},
            ).json()
            if seen["status"] != "pending":
                break
            time.sleep(0.1)
        assert seen["status"] == status, seen
        self.settle(request, status, seen)

    def settle(self, request: Request, status: str, seen: dict) -> None:
        """The model's request settled as `status` (`seen`: the request as the API returned it),
        and the change it makes."""
        request.status = status
        association = request.association
        if request.kind is PARTNER_CHANGE and status == "completed":
            assert request.new_partner is not None
            association.ended = True
            self.associations.append(
                Association(
                    seen["new_association_id"],
                    request.new_partner,
                    request.chosen_type or association.type,
                    begun_by=request.id,
                )
            )
        elif request.kind is DISASSOCIATION and status in AGREEMENTS:
            association.ended = True
        elif request.kind is TYPE_CHANGE and status in AGREEMENTS:
            assert request.new_type is not None
            association.type = request.new_type

    # --- rules ----------------------------------------------------------------------------

    @rule(
        kind=st.sampled_from([DISASSOCIATION, TYPE_CHANGE, PARTNER_CHANGE]),
        side=st.sampled_from(["customer", "partner"]),
        new_type=st.sampled_from(TYPES),
        # The partner to move to: the customer's first partner, or one of the others.
        move_to=st.integers(0, TARGETS),
    )
    def submit(self, kind: RequestKind, side: str, new_type: str, move_to: int) -> None:
        RULES["submit"] += 1
        self.ask(kind, side, new_type, move_to)

    def ask(self, kind: RequestKind, side: str, new_type: str, move_to: int = 0) -> None:
        self.let_deadlines_pass(only_due=True)
        association = self.association
        body = {"association_id": association.id, "reason": "model", "acknowledged": True}
        if kind is TYPE_CHANGE:
            body["new_type"] = new_type
        new_partner = self.partners[move_to]
        if kind is PARTNER_CHANGE:
            body["new_partner_id"] = new_partner
        response = self.http.post(
            PATHS[kind],
            json=body,
            headers={"Authorization": f"Bearer {self.token(association, side)}"},
        )
        pending = association.pending
        expected: tuple[int, str | None]
        if kind is PARTNER_CHANGE and side == "partner":
            expected = (403, "forbidden")
        elif pending is not None:
            expected = (409, "request_pending")
        elif self.used(kind, side) >= LIMIT:
            expected = (409, "request_limit_reached")
        elif (
            association.ended
            or (kind is TYPE_CHANGE and new_type == association.type)
            or (kind is PARTNER_CHANGE and new_partner == association.partner)
        ):
            expected = (422, "check_failed")
        else:
            expected = (201, None)
        got = (
            response.status_code,
            response.json().get("code") if response.status_code != 201 else None,
        )
        assert got == expected, response.text
        if expected[1] == "request_pending":  # the refusal names the request pending, of any kind
            assert pending is not None
            [item] = [i for i in response.json()["items"] if i["code"] == "no_pending_request"]
            assert pending.id in item["message"], item
        if response.status_code == 201:
            answer = response.json()
            if kind is TYPE_CHANGE:
                assert (answer["from_type"], answer["new_type"]) == (association.type, new_type)
            if kind is PARTNER_CHANGE:
                assert (answer["current_partner_id"], answer["new_partner_id"]) == (
                    association.partner,
                    new_partner,
                )
            deadline = datetime.fromisoformat(answer["respond_by"]).timestamp()
            request = Request(
                answer["id"],
                kind,
                side,
                deadline,
                association,
                new_type=new_type if kind is TYPE_CHANGE else None,
                new_partner=new_partner if kind is PARTNER_CHANGE else None,
            )
            association.requests.append(request)
            self.requests.append(request)
        STEPS["n"] += 1

    @initialize(
        moves=st.booleans(),
        side=st.sampled_from(["customer", "partner"]),
        new_type=st.sampled_from([t for t in TYPES if t != FROM_TYPE]),
        move_to=st.integers(1, TARGETS),
    )
    def ask_first(self, moves: bool, side: str, new_type: str, move_to: int) -> None:
        """Every run starts with a type change asked for, or a move to another partner, so that
        each has one pending on its association for a while (refusing a request of any other
        kind), and then settled one way or another."""
        RULES["ask_first"] += 1
        if moves:
            self.ask(PARTNER_CHANGE, "customer", FROM_TYPE, move_to)
        else:
            self.ask(TYPE_CHANGE, side, new_type)

    @rule(move_to=st.integers(1, TARGETS))
    def ask_to_move(self, move_to: int) -> None:
        """The customer asks to move to one of the other partners (refused if it is with that one
        already)."""
        RULES["ask_to_move"] += 1
        self.ask(PARTNER_CHANGE, "customer", FROM_TYPE, move_to)

    @precondition(lambda self: self.requests and self.requests[-1].kind is PARTNER_CHANGE)
    @rule(
        # Mostly the consent still awaited, so that requests complete, not only end.
        action=st.sampled_from(["consent"] * 4 + ["agree", "accept", "reject", "decline"]),
        right_party=st.sampled_from([True, True, True, False]),
        association_type=st.sampled_from([None, *TYPES]),
        agree_first=st.booleans(),
    )
    def answer_the_move(
        self, action: str, right_party: bool, association_type: str | None, agree_first: bool
    ) -> None:
        """A partner's answer to the latest request, a partner change, pending or not."""
        RULES["answer_the_move"] += 1
        self.let_deadlines_pass(only_due=True)
        request = self.requests[-1]
        if action == "consent":  # the one still awaited (either, if both are)
            order = ["agree", "accept"] if agree_first else ["accept", "agree"]
            awaited = [a for a in order if CONSENT_OF[a] not in request.given]
            action = (awaited or order)[0]
        self.answer_move(request, action, right_party, association_type)

    @precondition(lambda self: self.requests)
    @rule(
        action=st.sampled_from(["agree", "reject", "withdraw", "accept", "decline"]),
        # Mostly the party the action is for, so that requests are decided, not only refused.
        right_party=st.sampled_from([True, True, False]),
        association_type=st.sampled_from([None, *TYPES]),
    )
    def decide(self, action: str, right_party: bool, association_type: str | None) -> None:
        """A decision on the latest request, of whichever kind, pending or not (a disassociation
        or a type change is agreed to or rejected where a partner change's new partner would
        accept or decline)."""
        RULES["decide"] += 1
        self.let_deadlines_pass(only_due=True)
        request = self.requests[-1]
        if request.kind is PARTNER_CHANGE:
            self.answer_move(request, action, right_party, association_type)
            return
        action = {"accept": "agree", "decline": "reject"}.get(action, action)
        association = request.association
        # The initiator withdraws; the counterpart agrees or rejects.
        entitled = request.initiator if action == "withdraw" else OTHER_SIDE[request.initiator]
        by = entitled if right_party else OTHER_SIDE[entitled]
        body = {"reason": "model"} if action == "reject" else None
        response = self.http.post(
            f"{PATHS[request.kind]}/{request.id}/{action}",
            json=body,
            headers={"Authorization": f"Bearer {self.token(association, by)}"},
        )
        if not right_party:
            assert (response.status_code, response.json()["code"]) == (403, "forbidden"), (
                response.text
            )
        elif request.status != "pending":
            assert response.status_code == 409, response.text
            assert response.json()["request_status"] == request.status
        else:
            assert response.status_code == 200, response.text
            outcome = {"agree": "agreed", "reject": "rejected", "withdraw": "withdrawn"}[action]
            assert response.json()["status"] == outcome
            self.settle(request, outcome, response.json())
        STEPS["n"] += 1

    def answer_move(
        self, request: Request, action: str, right_party: bool, association_type: str | None
    ) -> None:
        """The current partner agrees or rejects, the new partner accepts or declines, the
        customer withdraws; the wrong one of them is refused 403."""
        assert request.new_partner is not None
        current = self.partner_tokens[request.association.partner]
        new = self.partner_tokens[request.new_partner]
        entitled = {
            "agree": current, "reject": current, "accept": new, "decline": new,
            "withdraw": self.customer_token,
        }[action]  # fmt: skip
        wrong = {current: new, new: current, self.customer_token: current}[entitled]
        body: dict | None = None
        if action in REFUSED_AS:
            body = {"reason": "model"}
        elif action == "accept" and association_type is not None:
            body = {"association_type": association_type}
        response = self.http.post(
            f"{PATHS[PARTNER_CHANGE]}/{request.id}/{action}",
            json=body,
            headers={"Authorization": f"Bearer {entitled if right_party else wrong}"},
        )
        consent = CONSENT_OF.get(action)
        if not right_party:
            assert (response.status_code, response.json()["code"]) == (403, "forbidden"), (
                response.text
            )
        elif request.status != "pending":
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "not_pending", response.text
            assert response.json()["request_status"] == request.status
        elif consent in request.given:
            assert (response.status_code, response.json()["code"]) == (409, "already_answered"), (
                response.text
            )
        else:
            assert response.status_code == 200, response.text
            if action == "withdraw":
                outcome = "withdrawn"
            elif action in REFUSED_AS:
                outcome = REFUSED_AS[action]
            elif request.given:  # the other consent was given: this one completes it
                outcome = "completed"
            else:
                outcome = "pending"
                request.recorded.append(RECORDED_AS[action])
            if consent is not None:
                request.given.add(consent)
            if action == "accept":
                request.chosen_type = association_type
            seen = response.json()
            assert seen["status"] == outcome, seen
            if outcome != "pending":
                self.settle(request, outcome, seen)
        STEPS["n"] += 1

    @rule()
    def time_passes(self) -> None:
        RULES["time_passes"] += 1
        self.let_deadlines_pass(only_due=False)
        STEPS["n"] += 1

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        near_deadline = any(
            r.status == "pending" and time.time() > r.respond_by - MARGIN for r in self.requests
        )
        if near_deadline:  # the workflow may be settling it right now; checked once waited out
            return
        with psycopg.connect(self.stack["database_url"], row_factory=dict_row) as conn:
            # The customer's associations, as the model has them: one active at most (exactly one
            # until a disassociation ends it), each begun by the start or by a partner change.
            rows = conn.execute(
                "SELECT id::text, partner_id::text, status, association_type FROM associations"
                " WHERE customer_id = %s ORDER BY associated_at, id",
                (self.customer_id,),
            ).fetchall()
            assert {r["id"]: r for r in rows} == {
                a.id: {
                    "id": a.id,
                    "partner_id": a.partner,
                    "status": "ended" if a.ended else "active",
                    "association_type": a.type,
                }
                for a in self.associations
            }
            active = sum(r["status"] == "active" for r in rows)
            assert active == (0 if self.association.ended else 1), rows
            for association in self.associations:
                self.association_matches(conn, association)
            for request in self.requests:
                self.told_as_the_model_says(conn, request)

    @staticmethod
    def association_matches(
        conn: psycopg.Connection[dict[str, Any]], association: Association
    ) -> None:
        requests = conn.execute(
            "SELECT id::text, kind, status FROM requests WHERE association_id = %s",
            (association.id,),
        ).fetchall()
        assert {r["id"]: (r["kind"], r["status"]) for r in requests} == {
            r.id: (r.kind.value, r.status) for r in association.requests
        }
        changes = conn.execute(
            "SELECT count(*) FILTER (WHERE kind = 'association' AND action = 'ended') AS ended,"
            " count(*) FILTER (WHERE action = 'type_changed') AS type_changed,"
            " array_agg(request_id::text) FILTER (WHERE kind = 'association'"
            "  AND action = 'associated') AS begun_by"
            " FROM association_records WHERE association_id = %s",
            (association.id,),
        ).fetchone()
        type_changes = [
            r for r in association.requests if r.kind is TYPE_CHANGE and r.status == "agreed"
        ]
        assert changes == {
            "ended": 1 if association.ended else 0,
            "type_changed": len(type_changes),
            "begun_by": [association.begun_by],
        }

    @staticmethod
    def told_as_the_model_says(conn: psycopg.Connection[dict[str, Any]], request: Request) -> None:
        """Those the request awaits told of it; every party of its outcome, and of the change an
        agreement made (with the request's own id: its change is its own, made once); a partner
        change's consent given while the other was awaited recorded and told to every party."""
        found = conn.execute(
            "SELECT event_type, count(*) AS n FROM notifications WHERE request_id = %s GROUP BY 1",
            (request.id,),
        ).fetchall()
        kind = request.kind.value
        moves = request.kind is PARTNER_CHANGE
        awaited, parties = (2, 3) if moves else (1, 2)
        expected = Counter({f"{kind}.requested": awaited})
        expected.update({f"{kind}.{answer}": parties for answer in request.recorded})
        if request.status != "pending":
            expected[f"{kind}.{request.status}"] = parties
        if request.status == "completed":
            expected.update({"association.ended": 2, "association.started": 2})
        elif request.status in AGREEMENTS:
            change = (
                "association.ended"
                if request.kind is DISASSOCIATION
                else "association.type_changed"
            )
            expected[change] = 2
        assert Counter({r["event_type"]: r["n"] for r in found}) == expected, request
        records = conn.execute(
            "SELECT kind || ':' || action AS action, count(*) AS n FROM association_records"
            " WHERE request_id = %s GROUP BY 1",
            (request.id,),
        ).fetchall()
        recorded = Counter({f"{kind}:requested": 1})
        recorded.update(f"{kind}:{answer}" for answer in request.recorded)
        if request.status != "pending":
            recorded[f"{kind}:{request.status}"] += 1
        if request.status == "completed":
            recorded.update(["association:ended", "association:associated"])
        elif request.status in AGREEMENTS:
            recorded[
                "association:ended"
                if request.kind is DISASSOCIATION
                else "type_change:type_changed"
            ] += 1
        assert Counter({r["action"]: r["n"] for r in records}) == recorded, request


EXAMPLES = 12


@pytest.fixture(scope="module")
async def model_stack(postgres_server_url, dev_env, tmp_path_factory):
    stack = await start_app_stack(
        postgres_server_url,
        dev_env.client.service_client.config.target_host,
        tmp_path_factory.mktemp("model"),
        response_window=f"PT{WINDOW}S",
        reminder_before="PT0S",
        request_limit=str(LIMIT),
        type_change_limit=str(LIMIT),
    )
    pool = await open_pool(stack.database_url, max_size=2)
    factory = Factory(pool)
    worlds = [await factory.world() for _ in range(EXAMPLES * 3)]  # a fresh one per run
    # The partners customers move to, shared by every run (each run's customer is its own).
    targets = []
    for _ in range(TARGETS):
        partner = await factory.partner()
        targets.append((partner, (await factory.user(partner, ["admin"]))[1]))
    await pool.close()
    yield {
        "url": stack.url,
        "database_url": stack.database_url,
        "worlds": worlds,
        "targets": targets,
    }
    stack.stop()


def test_random_lifecycles_follow_the_model(model_stack):
    Lifecycle.stack = model_stack
    started = time.monotonic()
    hypothesis.stateful.run_state_machine_as_test(
        Lifecycle,
        settings=hypothesis.settings(
            max_examples=EXAMPLES,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            # The system keeps time, so a replay is not the same run: report the failing run as
            # it happened rather than shrink it.
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        ),
    )
    record_figures(
        "hypothesis_state_machine", runs=EXAMPLES, steps=STEPS["n"], deadline_waits=STEPS["waits"],
        requests=dict(sorted(OUTCOMES.items())),
        customers_moved=OUTCOMES["partner_change:completed"], steps_by_rule=dict(sorted(RULES.items())),
        seconds=round(time.monotonic() - started, 1), model_mismatches=0,
    )  # fmt: skip
