"""A hypothesis state machine drives random submits of either kind (disassociations and
association type changes), decisions (by the right party and the wrong one), withdrawals and the
passing of time through the real API, and after every step compares PostgreSQL with a small model
of the SPEC's rules:

- a submit of either kind is refused with `request_pending` (naming the pending request) while a
  request of any kind is pending, then with `request_limit_reached` once the allowance is used
  (disassociations: per side; type changes: per association, whoever asks), then with
  `check_failed` once the association has ended, or for a type change to the type it has;
  otherwise it is accepted;
- only the counterpart agrees or rejects and only the initiator withdraws (403 otherwise), and
  only while pending (409 with the request's status otherwise);
- without an answer by `respond_by` a customer's disassociation is auto-agreed, a partner's
  expires, and a type change expires whoever asked for it;
- an agreed disassociation ends the association, once; an agreed type change changes its type to
  the one asked for, once.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

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
DISASSOCIATION, TYPE_CHANGE = RequestKind.DISASSOCIATION, RequestKind.TYPE_CHANGE
TYPES = ["referral", "advance_payment", "resale"]
AGREEMENTS = ("agreed", "auto_agreed")
OTHER_SIDE = {"customer": "partner", "partner": "customer"}


@dataclass
class Request:
    id: str
    kind: RequestKind
    initiator: str
    respond_by: float  # epoch seconds
    new_type: str | None = None  # a type change's
    status: str = "pending"

    @property
    def on_deadline(self) -> str:
        if self.kind is TYPE_CHANGE or self.initiator == "partner":
            return "expired"
        return "auto_agreed"


@dataclass
class Association:
    id: str
    customer_token: str
    type: str = FROM_TYPE
    ended: bool = False
    requests: list[Request] = field(default_factory=list)

    def used(self, kind: RequestKind, side: str) -> int:
        """What the limit of `kind` counts for `side`: its own disassociations, every type
        change."""
        return sum(
            1
            for r in self.requests
            if r.kind is kind and (kind is TYPE_CHANGE or r.initiator == side)
        )

    @property
    def pending(self) -> Request | None:
        return next((r for r in self.requests if r.status == "pending"), None)

    def settle(self, request: Request, status: str) -> None:
        request.status = status
        if status in AGREEMENTS and request.kind is DISASSOCIATION:
            self.ended = True
        elif status in AGREEMENTS:
            assert request.new_type is not None
            self.type = request.new_type


class Lifecycle(RuleBasedStateMachine):
    stack: dict = {}

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.stack["url"], timeout=40)
        world = self.stack["worlds"].pop()
        self.partner_token = world.partner_admin
        self.associations = [Association(str(world.association_id), world.customer)]

    def teardown(self) -> None:
        self.http.close()
        OUTCOMES.update(f"{r.kind.value}:{r.status}" for a in self.associations for r in a.requests)

    # --- helpers --------------------------------------------------------------------------

    def token(self, association: Association, side: str) -> str:
        return self.partner_token if side == "partner" else association.customer_token

    def let_deadlines_pass(self, only_due: bool) -> None:
        """Bring the model up to date with timeouts: a request past its deadline has been settled
        by the workflow (or is being: looked at until it is); one near its deadline is waited out
        so the outcome is certain."""
        for association in self.associations:
            request = association.pending
            if request is None:
                continue
            now = time.time()
            if only_due and now < request.respond_by - MARGIN:
                continue
            STEPS["waits"] += 1
            time.sleep(max(0.0, request.respond_by - now))
            self.await_status(association, request, request.on_deadline)

    def await_status(self, association: Association, request: Request, status: str) -> None:
        for _ in range(100):
            seen = self.http.get(
                f"{PATHS[request.kind]}/{request.id}",
                headers={"Authorization": f"Bearer {self.partner_token}"},
            ).json()
            if seen["status"] != "pending":
                break
            time.sleep(0.1)
        assert seen["status"] == status
        association.settle(request, status)

    # --- rules ----------------------------------------------------------------------------

    @rule(
        kind=st.sampled_from([DISASSOCIATION, TYPE_CHANGE]),
        side=st.sampled_from(["customer", "partner"]),
        new_type=st.sampled_from(TYPES),
    )
    def submit(self, kind: RequestKind, side: str, new_type: str) -> None:
        self.let_deadlines_pass(only_due=True)
        association = self.associations[0]
        body = {"association_id": association.id, "reason": "model", "acknowledged": True}
        if kind is TYPE_CHANGE:
            body["new_type"] = new_type
        response = self.http.post(
            PATHS[kind],
            json=body,
            headers={"Authorization": f"Bearer {self.token(association, side)}"},
        )
        pending = association.pending
        if pending is not None:
            expected = (409, "request_pending")
        elif association.used(kind, side) >= LIMIT:
            expected = (409, "request_limit_reached")
        elif association.ended or (kind is TYPE_CHANGE and new_type == association.type):
            expected = (422, "check_failed")
        else:
            expected = (201, None)
        got = (
            response.status_code,
            response.json().get("code") if response.status_code != 201 else None,
        )
        assert got == expected, response.text
        if pending is not None:  # the refusal names the request pending, of whichever kind
            [item] = [i for i in response.json()["items"] if i["code"] == "no_pending_request"]
            assert pending.id in item["message"], item
        if response.status_code == 201:
            answer = response.json()
            if kind is TYPE_CHANGE:
                assert (answer["from_type"], answer["new_type"]) == (association.type, new_type)
            deadline = datetime.fromisoformat(answer["respond_by"]).timestamp()
            association.requests.append(
                Request(
                    answer["id"], kind, side, deadline, new_type if kind is TYPE_CHANGE else None
                )
            )
        STEPS["n"] += 1

    @initialize(
        side=st.sampled_from(["customer", "partner"]),
        new_type=st.sampled_from([t for t in TYPES if t != FROM_TYPE]),
    )
    def ask_for_a_type_change(self, side: str, new_type: str) -> None:
        """Every run starts with a type change asked for, so that each has one pending on its
        association for a while (refusing a disassociation), and then agreed, rejected,
        withdrawn or expired."""
        self.submit(TYPE_CHANGE, side, new_type)

    @precondition(lambda self: self.associations[0].requests)
    @rule(
        action=st.sampled_from(["agree", "reject", "withdraw"]),
        # Mostly the party the action is for, so that requests are decided, not only refused.
        right_party=st.sampled_from([True, True, False]),
    )
    def decide(self, action: str, right_party: bool) -> None:
        """A decision on the latest request, of whichever kind, pending or not."""
        self.let_deadlines_pass(only_due=True)
        association = self.associations[0]
        request = association.requests[-1]
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
            association.settle(request, outcome)
        STEPS["n"] += 1

    @rule()
    def time_passes(self) -> None:
        self.let_deadlines_pass(only_due=False)
        STEPS["n"] += 1

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        with psycopg.connect(self.stack["database_url"], row_factory=dict_row) as conn:
            for association in self.associations:
                row = conn.execute(
                    "SELECT status, association_type FROM associations WHERE id = %s",
                    (association.id,),
                ).fetchone()
                requests = conn.execute(
                    "SELECT id::text, kind, status FROM requests WHERE association_id = %s",
                    (association.id,),
                ).fetchall()
                near_deadline = any(
                    r.status == "pending" and time.time() > r.respond_by - MARGIN
                    for r in association.requests
                )
                if (
                    near_deadline
                ):  # the workflow may be settling it right now; checked once waited out
                    continue
                assert {r["id"]: (r["kind"], r["status"]) for r in requests} == {
                    r.id: (r.kind.value, r.status) for r in association.requests
                }
                assert (row["status"], row["association_type"]) == (
                    "ended" if association.ended else "active",
                    association.type,
                )
                changes = conn.execute(
                    "SELECT count(*) FILTER (WHERE kind = 'association' AND action = 'ended') AS ended,"
                    " count(*) FILTER (WHERE action = 'type_changed') AS type_changed"
                    " FROM association_records WHERE association_id = %s",
                    (association.id,),
                ).fetchone()
                type_changes = [
                    r
                    for r in association.requests
                    if r.kind is TYPE_CHANGE and r.status == "agreed"
                ]
                assert changes == {
                    "ended": 1 if association.ended else 0,
                    "type_changed": len(type_changes),
                }
                for request in association.requests:
                    self.told_as_the_model_says(conn, request)

    @staticmethod
    def told_as_the_model_says(conn: psycopg.Connection, request: Request) -> None:
        """The counterpart told of the request; both sides of its outcome, and of the change an
        agreement made (with the request's own id: its change is its own, made once)."""
        found = conn.execute(
            "SELECT event_type, count(*) AS n FROM notifications WHERE request_id = %s GROUP BY 1",
            (request.id,),
        ).fetchall()
        kind = request.kind.value
        expected = Counter({f"{kind}.requested": 1})
        if request.status != "pending":
            expected[f"{kind}.{request.status}"] = 2
        if request.status in AGREEMENTS:
            change = (
                "association.ended"
                if request.kind is DISASSOCIATION
                else "association.type_changed"
            )
            expected[change] = 2
        assert Counter({r["event_type"]: r["n"] for r in found}) == expected, request
        if request.kind is TYPE_CHANGE:
            changed = conn.execute(
                "SELECT count(*) AS n FROM association_records WHERE request_id = %s"
                " AND action = 'type_changed'",
                (request.id,),
            ).fetchone()
            assert changed == {"n": 1 if request.status == "agreed" else 0}, request


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
    await pool.close()
    yield {"url": stack.url, "database_url": stack.database_url, "worlds": worlds}
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
        seconds=round(time.monotonic() - started, 1), model_mismatches=0,
    )  # fmt: skip
