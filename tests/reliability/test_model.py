"""A hypothesis state machine drives random submits, decisions (by the right party and the
wrong one), withdrawals and the passing of time through the real API, and after every step
compares PostgreSQL with a small model of the SPEC's rules:

- a submit is refused with `request_pending` while a request is pending, then with
  `request_limit_reached` once the side has used its allowance, then with `check_failed` once
  the association has ended; otherwise it is accepted;
- only the counterpart agrees or rejects and only the initiator withdraws (403 otherwise), and
  only while pending (409 with the request's status otherwise);
- without an answer by `respond_by` a customer's request is auto-agreed, a partner's expires;
- an agreement ends the association, once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import hypothesis
import psycopg
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from psycopg.rows import dict_row

from store.db import open_pool
from tests.factories import Factory
from tests.reliability.harness import record_figures, start_app_stack

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(600)]

WINDOW = 2.5  # seconds the counterpart has; "time passes" waits it out
LIMIT = 2  # requests per side per association
MARGIN = 1.0  # around a deadline the outcome is the server's to say: wait it out, then look
STEPS = {"n": 0, "waits": 0}


@dataclass
class Request:
    id: str
    initiator: str
    respond_by: float  # epoch seconds
    status: str = "pending"


@dataclass
class Association:
    id: str
    customer_token: str
    ended: bool = False
    requests: list[Request] = field(default_factory=list)

    def used(self, side: str) -> int:
        return sum(1 for r in self.requests if r.initiator == side)

    @property
    def pending(self) -> Request | None:
        return next((r for r in self.requests if r.status == "pending"), None)


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

    # --- helpers --------------------------------------------------------------------------

    def token(self, association: Association, side: str) -> str:
        return self.partner_token if side == "partner" else association.customer_token

    def let_deadlines_pass(self, only_due: bool) -> None:
        """Bring the model up to date with timeouts: a request past its deadline has been settled
        by the workflow; one near its deadline is waited out so the outcome is certain."""
        for association in self.associations:
            request = association.pending
            if request is None:
                continue
            now = time.time()
            if only_due and now < request.respond_by - MARGIN:
                continue
            STEPS["waits"] += 1
            time.sleep(max(0.0, request.respond_by + MARGIN - now))
            outcome = "auto_agreed" if request.initiator == "customer" else "expired"
            self.await_status(association, request, outcome)

    def await_status(self, association: Association, request: Request, status: str) -> None:
        for _ in range(100):
            seen = self.http.get(
                f"/v1/disassociations/{request.id}",
                headers={"Authorization": f"Bearer {self.partner_token}"},
            ).json()
            if seen["status"] != "pending":
                break
            time.sleep(0.1)
        assert seen["status"] == status
        request.status = status
        association.ended = association.ended or status in ("agreed", "auto_agreed")

    # --- rules ----------------------------------------------------------------------------

    @rule(side=st.sampled_from(["customer", "partner"]))
    def submit(self, side: str) -> None:
        self.let_deadlines_pass(only_due=True)
        association = self.associations[0]
        response = self.http.post(
            "/v1/disassociations",
            json={"association_id": association.id, "reason": "model", "acknowledged": True},
            headers={"Authorization": f"Bearer {self.token(association, side)}"},
        )
        if association.pending is not None:
            expected = (409, "request_pending")
        elif association.used(side) >= LIMIT:
            expected = (409, "request_limit_reached")
        elif association.ended:
            expected = (422, "check_failed")
        else:
            expected = (201, None)
        got = (
            response.status_code,
            response.json().get("code") if response.status_code != 201 else None,
        )
        assert got == expected, response.text
        if response.status_code == 201:
            body = response.json()
            deadline = datetime.fromisoformat(body["respond_by"]).timestamp()
            association.requests.append(Request(body["id"], side, deadline))
        STEPS["n"] += 1

    @precondition(lambda self: self.associations[0].requests)
    @rule(
        action=st.sampled_from(["agree", "reject", "withdraw"]),
        by=st.sampled_from(["customer", "partner"]),
    )
    def decide(self, action: str, by: str) -> None:
        self.let_deadlines_pass(only_due=True)
        association = self.associations[0]
        request = association.requests[-1]
        right_party = by == request.initiator if action == "withdraw" else by != request.initiator
        body = {"reason": "model"} if action == "reject" else None
        response = self.http.post(
            f"/v1/disassociations/{request.id}/{action}",
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
            request.status = outcome
            association.ended = association.ended or outcome == "agreed"
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
                    "SELECT status FROM associations WHERE id = %s", (association.id,)
                ).fetchone()
                requests = conn.execute(
                    "SELECT id::text, status FROM disassociation_requests WHERE association_id = %s",
                    (association.id,),
                ).fetchall()
                statuses = {r["id"]: r["status"] for r in requests}
                near_deadline = any(
                    r.status == "pending" and time.time() > r.respond_by - MARGIN
                    for r in association.requests
                )
                if (
                    near_deadline
                ):  # the workflow may be settling it right now; checked once waited out
                    continue
                assert statuses == {r.id: r.status for r in association.requests}
                assert row["status"] == ("ended" if association.ended else "active")
                ended_records = conn.execute(
                    "SELECT count(*) AS n FROM association_records WHERE association_id = %s"
                    " AND kind = 'association' AND action = 'ended'",
                    (association.id,),
                ).fetchone()["n"]
                assert ended_records == (1 if association.ended else 0)
                for request in association.requests:
                    notes = conn.execute(
                        "SELECT count(*) AS n FROM notifications WHERE request_id = %s",
                        (request.id,),
                    ).fetchone()["n"]
                    settled = 0 if request.status == "pending" else 2
                    ended = 2 if request.status in ("agreed", "auto_agreed") else 0
                    assert notes == 1 + settled + ended, (request, notes)


EXAMPLES = 8


@pytest.fixture(scope="module")
async def model_stack(postgres_server_url, dev_env, tmp_path_factory):
    stack = await start_app_stack(
        postgres_server_url,
        dev_env.client.service_client.config.target_host,
        tmp_path_factory.mktemp("model"),
        response_window=f"PT{WINDOW}S",
        reminder_before="PT0S",
        request_limit=str(LIMIT),
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
        seconds=round(time.monotonic() - started, 1), model_mismatches=0,
    )  # fmt: skip
