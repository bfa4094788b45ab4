"""What the fault and race tests share: a client that retries like a careful caller, how each kind
of request is asked for and decided through the API, the data of a scenario, and the exact counts
a run must leave behind."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.types import RequestKind
from store import accounts, associations, tokens

FIGURES = Path(__file__).resolve().parents[2] / "build" / "reliability-figures.jsonl"


@dataclass
class Counters:
    calls: int = 0
    retries: int = 0


# What a call came back with, besides an HTTP status: the server closed the connection under it
# (`dropped`), or nothing listened at the address (`refused`: the process was dead).
DROPPED, REFUSED = "dropped", "refused"


@dataclass(frozen=True)
class Attempt:
    """One call: when it was sent (monotonic), to which API, and what came back."""

    sent_at: float
    base_url: str
    outcome: int | str
    code: str | None = None


class RetryingClient:
    """Retries on a dropped connection, a 5xx and `idempotency_key_in_use`, always with the same
    Idempotency-Key, until an answer that is final (2xx or another 4xx) or `deadline` seconds.
    Given several APIs, it sends each call to the next one in turn, as a proxy would; it keeps
    every attempt's answer."""

    def __init__(self, base_urls: str | list[str], deadline: float = 120.0):
        self.base_urls = [base_urls] if isinstance(base_urls, str) else base_urls
        self.http = httpx.AsyncClient(timeout=40.0)
        self.deadline = deadline
        self.counters = Counters()
        self.attempts: list[Attempt] = []
        self._turn = 0

    def _next_api(self) -> str:
        self._turn += 1
        return self.base_urls[self._turn % len(self.base_urls)]

    async def post(self, path: str, token: str, body: dict | None = None) -> httpx.Response:
        key = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        give_up = time.monotonic() + self.deadline
        while True:
            self.counters.calls += 1
            api, sent_at = self._next_api(), time.monotonic()
            try:
                response = await self.http.post(api + path, json=body, headers=headers)
            except httpx.ConnectError:
                self.attempts.append(Attempt(sent_at, api, REFUSED))
            except httpx.TransportError:
                self.attempts.append(Attempt(sent_at, api, DROPPED))
            else:
                code = _problem_code(response)
                self.attempts.append(Attempt(sent_at, api, response.status_code, code))
                final = response.status_code < 500 and not (
                    response.status_code == 409 and code == "idempotency_key_in_use"
                )
                if final:
                    return response
            if time.monotonic() > give_up:
                raise AssertionError(f"POST {path} got no final answer in {self.deadline}s")
            self.counters.retries += 1
            await asyncio.sleep(0.25)

    def tally(self) -> dict[str, int]:
        return tally(self.attempts)

    async def aclose(self) -> None:
        await self.http.aclose()


def tally(attempts: list[Attempt]) -> dict[str, int]:
    """Each answer, counted: "201", "503 temporarily_unavailable", "dropped", ..."""
    found: dict[str, int] = {}
    for attempt in attempts:
        label = str(attempt.outcome)
        if isinstance(attempt.outcome, int) and attempt.outcome >= 500:
            label += f" {attempt.code}"
        found[label] = found.get(label, 0) + 1
    return dict(sorted(found.items()))


def _problem_code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    code = response.json().get("code")
    return code if isinstance(code, str) else None


# Each kind of request, where the API serves it.
PATHS = {
    RequestKind.DISASSOCIATION: "/v1/disassociations",
    RequestKind.TYPE_CHANGE: "/v1/type-changes",
    RequestKind.PARTNER_CHANGE: "/v1/partner-changes",
}
# Every scenario's associations start as `resale`; a type change asks for this.
FROM_TYPE, NEW_TYPE = "resale", "referral"


def submit_body(
    kind: RequestKind,
    association_id: UUID | str,
    reason: str = "moving",
    new_partner_id: UUID | str | None = None,
) -> dict:
    """What a submit of `kind` sends (a type change: to NEW_TYPE; a partner change: to
    `new_partner_id`)."""
    body = {"association_id": str(association_id), "reason": reason, "acknowledged": True}
    if kind is RequestKind.TYPE_CHANGE:
        body["new_type"] = NEW_TYPE
    if kind is RequestKind.PARTNER_CHANGE:
        assert new_partner_id is not None, "a partner change names the partner to move to"
        body["new_partner_id"] = str(new_partner_id)
    return body


async def submit(
    api: httpx.AsyncClient,
    kind: RequestKind,
    token: str,
    association_id: UUID | str,
    new_partner_id: UUID | str | None = None,
) -> httpx.Response:
    """Ask for a request of `kind` through `api` (its base URL set)."""
    return await api.post(
        PATHS[kind],
        json=submit_body(kind, association_id, new_partner_id=new_partner_id),
        headers={"Authorization": f"Bearer {token}"},
    )


async def decide(
    api: httpx.AsyncClient,
    kind: RequestKind,
    token: str,
    request_id: str,
    action: str,
    **body: str,
) -> httpx.Response:
    """Agree, reject or withdraw a request of `kind`; accept or decline a partner change
    (`body`: its reason, the association type accepted)."""
    return await api.post(
        f"{PATHS[kind]}/{request_id}/{action}",
        json=body or None,
        headers={"Authorization": f"Bearer {token}"},
    )


@dataclass
class Party:
    customer_id: UUID
    customer_token: str
    association_id: UUID


@dataclass
class Scenario:
    partner_id: UUID
    partner_token: str
    # Another reseller, with none of the customers: the partner they move to.
    new_partner_id: UUID
    new_partner_token: str
    parties: list[Party] = field(default_factory=list)


async def make_scenario(pool: AsyncConnectionPool, size: int) -> Scenario:
    """One reseller with `size` customers, each associated with it and holding a token; and
    another reseller they may move to. Each reseller's admin holds a token."""
    async with pool.connection() as conn, conn.transaction():
        resellers = []
        for _ in range(2):
            partner = await accounts.create_partner(
                conn,
                {
                    "name": f"reseller {uuid.uuid4().hex[:6]}",
                    "type": "reseller",
                    "parent_partner_id": None,
                    "frozen": False,
                },
            )
            user = await accounts.create_partner_user(conn, partner.id, "admin", ["admin"])
            _, partner_token = await tokens.create(
                conn,
                subject_kind="partner_user",
                subject_id=str(user.id),
                created_by="operator:tests",
            )
            resellers.append((partner.id, partner_token))
        scenario = Scenario(*resellers[0], *resellers[1])
        for n in range(size):
            customer = await accounts.create_customer(conn, f"customer {n}")
            _, token = await tokens.create(
                conn,
                subject_kind="customer_service",
                subject_id=str(customer.id),
                created_by="operator:tests",
            )
            association = await associations.create(
                conn, scenario.partner_id, customer.id, "resale", "operator:tests"
            )
            scenario.parties.append(Party(customer.id, token, association.id))
    return scenario


async def counts(pool: AsyncConnectionPool, scenario: Scenario) -> dict[str, Any]:
    """Everything the scenario left in PostgreSQL, counted (of every association its customers
    have had: theirs at the start, and those a partner change began); and what must never be
    there, counted (each of NEVER is 0 in a good run). All of it read in one snapshot, so that
    an association a partner change begins while they are read is counted everywhere or
    nowhere."""
    queries = {
        "requests_by_status": "SELECT status AS k, count(*) AS n FROM requests"
        " WHERE association_id = ANY(%s) GROUP BY status",
        "associations_by_status": "SELECT status AS k, count(*) AS n FROM associations"
        " WHERE id = ANY(%s) GROUP BY status",
        "associations_by_type": "SELECT association_type AS k, count(*) AS n FROM associations"
        " WHERE id = ANY(%s) GROUP BY 1",
        "records_by_action": "SELECT kind || ':' || action AS k, count(*) AS n FROM association_records"
        " WHERE association_id = ANY(%s) GROUP BY 1",
        "notifications_by_event": "SELECT event_type AS k, count(*) AS n FROM notifications"
        " WHERE association_id = ANY(%s) GROUP BY 1",
    }
    result: dict[str, Any] = {}
    async with (
        pool.connection() as conn,
        conn.transaction(),
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await cur.execute(
            "SELECT id FROM associations WHERE customer_id = ANY(%s)",
            ([p.customer_id for p in scenario.parties],),
        )
        ids = [row["id"] for row in await cur.fetchall()]
        for name, query in queries.items():
            rows = await (await cur.execute(query, (ids,))).fetchall()
            result[name] = {row["k"]: row["n"] for row in rows}
        for name, query in NEVER.items():
            await cur.execute(f"SELECT count(*) AS n FROM ({query}) found", (ids,))
            found = await cur.fetchone()
            assert found is not None
            result[name] = found["n"]
    return result


# What no run may leave behind, each a query of the scenario's associations (`%s`: their ids).
NEVER = {
    "associations_ended_twice": "SELECT association_id FROM association_records"
    " WHERE association_id = ANY(%s) AND kind = 'association' AND action = 'ended'"
    " GROUP BY 1 HAVING count(*) > 1",
    # An agreed type change changed its association's type once: one `type_changed` record with
    # its id, one `association.type_changed` to each side; any other changed nothing.
    "type_changes_applied_other_than_once": "SELECT r.id FROM requests r"
    " WHERE r.association_id = ANY(%s) AND r.kind = 'type_change' AND (SELECT"
    " array[count(*) FILTER (WHERE source = 'record'), count(*) FILTER (WHERE source = 'partner'),"
    "  count(*) FILTER (WHERE source = 'customer')]"
    " FROM (SELECT 'record' AS source FROM association_records c"
    "   WHERE c.request_id = r.id AND c.action = 'type_changed'"
    "  UNION ALL SELECT n.recipient_kind FROM notifications n"
    "   WHERE n.request_id = r.id AND n.event_type = 'association.type_changed') effects)"
    " <> array_fill(CASE WHEN r.status = 'agreed' THEN 1 ELSE 0 END::bigint, array[3])",
    # Nothing but an agreed type change changed a type...
    "types_changed_by_no_agreed_request": "SELECT c.id FROM association_records c"
    " WHERE c.association_id = ANY(%s) AND c.action = 'type_changed' AND NOT EXISTS"
    " (SELECT FROM requests r WHERE r.id = c.request_id AND r.kind = 'type_change'"
    "  AND r.status = 'agreed')",
    # ...so each association has the type it was associated with, or the one its agreed type
    # change asked for.
    "associations_of_another_type": "SELECT a.id FROM associations a"
    " JOIN association_records made ON made.association_id = a.id AND made.action = 'associated'"
    " WHERE a.id = ANY(%s) AND a.association_type <> coalesce("
    "  (SELECT r.new_type FROM requests r WHERE r.association_id = a.id"
    "   AND r.kind = 'type_change' AND r.status = 'agreed' ORDER BY r.decided_at DESC LIMIT 1),"
    "  made.after ->> 'association_type')",
    # A decision is taken before `respond_by`, the deadline's outcome at or after it (a partner
    # change the new partner accepted completes on the deadline too: by the system).
    "settled_on_the_wrong_side_of_the_deadline": "SELECT id FROM requests"
    " WHERE association_id = ANY(%s) AND status NOT IN ('pending', 'cancelled')"
    " AND (status IN ('auto_agreed', 'expired')"
    "  OR (status = 'completed' AND decided_by = 'system:assocflow'))"
    " <> (decided_at >= respond_by)",
    # A partner change completes only with the new partner's acceptance given before
    # `respond_by`, and the current partner's agreement (or its silence until the deadline).
    "partner_changes_completed_without_both_consents": "SELECT id FROM requests"
    " WHERE association_id = ANY(%s) AND kind = 'partner_change' AND status = 'completed' AND ("
    "  coalesce(new_partner_decision ->> 'decision', '') <> 'accept'"
    "  OR (new_partner_decision ->> 'at')::timestamptz >= respond_by"
    "  OR coalesce(current_partner_decision ->> 'decision', 'agree') <> 'agree'"
    "  OR (current_partner_decision IS NULL AND decided_at < respond_by))",
    # A completed partner change ended its association and began one with the new partner (of
    # the customer, active), each once, each recorded once naming the request; any other moved
    # no one.
    "partner_changes_moved_other_than_once": "SELECT r.id FROM requests r"
    " WHERE r.association_id = ANY(%s) AND r.kind = 'partner_change' AND array["
    "  (SELECT count(*) FROM associations a WHERE a.ended_by_request_id = r.id),"
    "  (SELECT count(*) FROM associations a WHERE a.ended_by_request_id = r.id"
    "   AND a.id = r.association_id AND a.status = 'ended'),"
    "  (SELECT count(*) FROM associations a WHERE a.id = r.new_association_id"
    "   AND a.status = 'active' AND a.partner_id = r.new_partner_id"
    "   AND a.customer_id = r.customer_id),"
    "  (SELECT count(*) FROM association_records c WHERE c.request_id = r.id"
    "   AND c.kind = 'association'),"
    "  (SELECT count(*) FROM association_records c WHERE c.request_id = r.id"
    "   AND c.kind = 'association' AND c.action = 'ended' AND c.association_id = r.association_id),"
    "  (SELECT count(*) FROM association_records c WHERE c.request_id = r.id"
    "   AND c.kind = 'association' AND c.action = 'associated'"
    "   AND c.association_id = r.new_association_id)]"
    " <> CASE WHEN r.status = 'completed' THEN array[1, 1, 1, 2, 1, 1]"
    "  ELSE array[0, 0, 0, 0, 0, 0] END::bigint[]",
    # No association begun but by a completed partner change, as its new one.
    "associations_begun_by_no_completed_partner_change": "SELECT c.id FROM association_records c"
    " WHERE c.association_id = ANY(%s) AND c.action = 'associated' AND c.request_id IS NOT NULL"
    " AND NOT EXISTS (SELECT FROM requests r WHERE r.id = c.request_id"
    "  AND r.status = 'completed' AND r.new_association_id = c.association_id)",
    # However it ended, a customer that asked to move has one active association.
    "movers_without_one_active_association": "SELECT r.id FROM requests r"
    " WHERE r.association_id = ANY(%s) AND r.kind = 'partner_change' AND (SELECT count(*)"
    "  FROM associations a WHERE a.customer_id = r.customer_id AND a.status = 'active') <> 1",
}


def expected_counts(
    associations: int,
    settled: dict[RequestKind, dict[str, int]],
    consents: dict[str, int] | None = None,
) -> dict[str, Any]:
    """What `counts` must find after `associations` (each `resale`, one request at most) saw
    requests of each kind settled as `settled` says ({kind: {status: n}}): each request recorded
    and those it awaits told (its counterpart; a partner change's two partners); each outcome
    recorded and every party told; each agreement's change made once, recorded and told. A
    partner change's `consents` ({"agreed": n, "accepted": n}) are those given while the other
    was still awaited: each recorded and told to all three parties. A completed partner change
    ends its association and begins one with the new partner (of the same type)."""
    requests: dict[str, int] = {}
    records: dict[str, int] = {"association:associated": associations}
    notes: dict[str, int] = {}
    ended = changed = moved = 0

    def add(into: dict[str, int], key: str, n: int) -> None:
        if n:
            into[key] = into.get(key, 0) + n

    for kind, statuses in settled.items():
        # Told of the request: the counterpart, or a partner change's two partners; of its
        # outcome: both sides, and a partner change's new partner.
        awaiting, parties = (2, 3) if kind is RequestKind.PARTNER_CHANGE else (1, 2)
        for status, n in statuses.items():
            add(requests, status, n)
            add(records, f"{kind.value}:requested", n)
            add(records, f"{kind.value}:{status}", n)
            add(notes, f"{kind.value}.requested", awaiting * n)
            add(notes, f"{kind.value}.{status}", parties * n)
            if status == "completed":
                moved += n
            elif status in ("agreed", "auto_agreed"):
                if kind is RequestKind.DISASSOCIATION:
                    ended += n
                else:
                    changed += n
    for consent, n in (consents or {}).items():
        add(records, f"partner_change:{consent}", n)
        add(notes, f"partner_change.{consent}", 3 * n)
    add(records, "association:ended", ended + moved)
    add(notes, "association.ended", 2 * (ended + moved))
    add(records, "association:associated", moved)
    add(notes, "association.started", 2 * moved)
    add(records, "type_change:type_changed", changed)
    add(notes, "association.type_changed", 2 * changed)
    return {
        "requests_by_status": requests,
        "associations_by_status": _nonzero(ended=ended + moved, active=associations - ended),
        "associations_by_type": _nonzero(
            **{FROM_TYPE: associations + moved - changed, NEW_TYPE: changed}
        ),
        "records_by_action": records,
        "notifications_by_event": notes,
        **dict.fromkeys(NEVER, 0),
    }


def _nonzero(**counted: int) -> dict[str, int]:
    return {k: n for k, n in counted.items() if n}


@dataclass
class Watched:
    """What `one_active_association_throughout` saw."""

    reads: int = 0
    # Reads PostgreSQL did not answer (it was down).
    unanswered: int = 0
    # Customers seen with their first partner in one read and with the new one in a later one.
    moves_seen: int = 0
    # (customer, its active associations) wherever that was not exactly one.
    not_one: list[tuple[UUID, int]] = field(default_factory=list)


async def one_active_association_throughout(
    database_url: str,
    customer_ids: list[UUID],
    new_partner_id: UUID,
    done: asyncio.Event,
    every: float = 0.005,
) -> Watched:
    """Read every few milliseconds, until `done`, how many active associations each customer
    has, all in one statement (one snapshot, as any reader sees the database): a customer moving
    to another partner must never be seen with none or with two. Keeps what each read saw;
    reconnects after PostgreSQL went down."""
    watched = Watched()
    moved: set[UUID] = set()
    query = (
        "SELECT c.id, count(a.id) AS n, coalesce(bool_or(a.partner_id = %s), false) AS moved"
        " FROM unnest(%s::uuid[]) AS c(id)"
        " LEFT JOIN associations a ON a.customer_id = c.id AND a.status = 'active' GROUP BY c.id"
    )
    conn: psycopg.AsyncConnection | None = None
    try:
        while not done.is_set():
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
                rows = await (await conn.execute(query, (new_partner_id, customer_ids))).fetchall()
            except psycopg.OperationalError:
                watched.unanswered += 1
                if conn is not None:
                    await conn.close()
                conn = None
                await asyncio.sleep(0.1)
                continue
            watched.reads += 1
            for customer_id, n, now_moved in rows:
                if n != 1:
                    watched.not_one.append((customer_id, n))
                if now_moved and customer_id not in moved:
                    moved.add(customer_id)
                    # Seen before the move (this is not the first read): the move between.
                    watched.moves_seen += watched.reads > 1
            await asyncio.sleep(every)
    finally:
        if conn is not None:
            await conn.close()
    return watched


def record_figures(name: str, **figures: Any) -> None:
    """Keep a run's figures for docs/RELIABILITY.md (build/reliability-figures.jsonl)."""
    FIGURES.parent.mkdir(exist_ok=True)
    with open(FIGURES, "a") as out:
        out.write(
            json.dumps(
                {"test": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
            )
            + "\n"
        )


@dataclass
class AppStack:
    """An API and a worker process on a database of their own."""

    url: str
    database_url: str
    procs: list[Any]

    def stop(self) -> None:
        from devstack import services

        for proc in self.procs:
            services.stop(proc)


async def start_app_stack(
    postgres_server_url: str, temporal_address: str, logs: Path, **settings: str
) -> AppStack:
    """A fresh database (migrated), a worker without the webhook relay, and an API, each a real
    process; `settings` are ASSOCFLOW_* variables (without the prefix) for both."""
    from devstack import services
    from store.db import migrate
    from tests.conftest import ADMITS_ANYTHING_ENV, ENCRYPTION_KEY

    database_url = services.ensure_database(
        postgres_server_url, f"assocflow_{uuid.uuid4().hex[:10]}"
    )
    await migrate(database_url)
    port = services.free_port()
    env = services.child_env(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=temporal_address,
        ASSOCFLOW_TASK_QUEUE=f"stack-{uuid.uuid4().hex[:8]}",
        ASSOCFLOW_API_PORT=str(port),
        ASSOCFLOW_ENCRYPTION_KEY=ENCRYPTION_KEY,
        ASSOCFLOW_WEBHOOK_RELAY="false",  # nothing made here is ever delivered anywhere
        ASSOCFLOW_WORKER_METRICS_ADDRESS="",
        ASSOCFLOW_RATE_LIMIT_SUBMIT="100000/minute",
        ASSOCFLOW_RATE_LIMIT_VERIFICATION="100000/minute",
        **ADMITS_ANYTHING_ENV,
        **{f"ASSOCFLOW_{k.upper()}": v for k, v in settings.items()},
    )
    procs = [
        services.spawn_python(args, logs / f"{name}.log", env=env)
        for name, args in (("worker", ["worker.py"]), ("api", ["-m", "server"]))
    ]
    services.wait_for_port("127.0.0.1", port, timeout=60, process=procs[-1])
    return AppStack(f"http://127.0.0.1:{port}", database_url, procs)
