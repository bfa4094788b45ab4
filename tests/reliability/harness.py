"""What the fault and race tests share: a client that retries like a careful caller, the data of
a scenario, and the exact counts a run must leave behind."""

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
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

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


@dataclass
class Party:
    customer_id: UUID
    customer_token: str
    association_id: UUID


@dataclass
class Scenario:
    partner_id: UUID
    partner_token: str
    parties: list[Party] = field(default_factory=list)


async def make_scenario(pool: AsyncConnectionPool, size: int) -> Scenario:
    """One reseller with `size` customers, each associated with it and holding a token."""
    async with pool.connection() as conn, conn.transaction():
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
        scenario = Scenario(partner.id, partner_token)
        for n in range(size):
            customer = await accounts.create_customer(conn, f"customer {n}")
            _, token = await tokens.create(
                conn,
                subject_kind="customer_service",
                subject_id=str(customer.id),
                created_by="operator:tests",
            )
            association = await associations.create(
                conn, partner.id, customer.id, "resale", "operator:tests"
            )
            scenario.parties.append(Party(customer.id, token, association.id))
    return scenario


async def counts(pool: AsyncConnectionPool, scenario: Scenario) -> dict[str, Any]:
    """Everything the scenario left in PostgreSQL, counted."""
    ids = [p.association_id for p in scenario.parties]
    queries = {
        "requests_by_status": "SELECT status AS k, count(*) AS n FROM disassociation_requests"
        " WHERE association_id = ANY(%s) GROUP BY status",
        "associations_by_status": "SELECT status AS k, count(*) AS n FROM associations"
        " WHERE id = ANY(%s) GROUP BY status",
        "records_by_action": "SELECT kind || ':' || action AS k, count(*) AS n FROM association_records"
        " WHERE association_id = ANY(%s) GROUP BY 1",
        "notifications_by_event": "SELECT event_type AS k, count(*) AS n FROM notifications"
        " WHERE association_id = ANY(%s) GROUP BY 1",
    }
    result: dict[str, Any] = {}
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        for name, query in queries.items():
            rows = await (await cur.execute(query, (ids,))).fetchall()
            result[name] = {row["k"]: row["n"] for row in rows}
        result["associations_ended_twice"] = (
            await (
                await cur.execute(
                    "SELECT count(*) AS n FROM (SELECT association_id FROM association_records"
                    " WHERE association_id = ANY(%s) AND kind = 'association' AND action = 'ended'"
                    " GROUP BY 1 HAVING count(*) > 1) twice",
                    (ids,),
                )
            ).fetchone()
        )["n"]
    return result


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
    from tests.conftest import ENCRYPTION_KEY

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
        **{f"ASSOCFLOW_{k.upper()}": v for k, v in settings.items()},
    )
    procs = [
        services.spawn_python(args, logs / f"{name}.log", env=env)
        for name, args in (("worker", ["worker.py"]), ("api", ["-m", "server"]))
    ]
    services.wait_for_port("127.0.0.1", port, timeout=60, process=procs[-1])
    return AppStack(f"http://127.0.0.1:{port}", database_url, procs)
