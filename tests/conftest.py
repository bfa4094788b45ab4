"""Session-wide real services: PostgreSQL (embedded, or DATABASE_URL's server), the Temporal dev
server (Updates) and the time-skipping test server (deadlines in days), one worker on each."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from assocflow.settings import Settings
from assocflow.temporal import ensure_search_attributes
from assocflow.temporal import runtime as temporal_runtime
from contract import SEARCH_ATTRIBUTES
from devstack import services
from server.app import create_app
from store.db import migrate, open_pool
from tests.documented_errors import RECORDER, undocumented
from tests.factories import Factory
from tests.mfa import clock as clock  # the time MFA codes are judged at, moved by a test
from webhooks.relay import WebhookRelay
from webhooks.secrets import new_key
from worker import build_worker
from workflows import versions

ROOT = Path(__file__).resolve().parent.parent
# The version worker.py runs as with the default settings: the suite's workers all run it.
WORKER_VERSION = versions.version(Settings().worker_deployment)


@pytest.fixture(scope="session", autouse=True)
def every_error_is_documented() -> Iterator[None]:
    """At the end of the session: each error the in-process API answered (tests/documented_errors.py)
    is in the OpenAPI schema, for its route, with its problem code (ASSOCFLOW_ERRORS_SEEN=<file>
    also writes down every error seen, with the first test that saw it)."""
    yield
    if not RECORDER.seen:
        return
    if dump := os.environ.get("ASSOCFLOW_ERRORS_SEEN"):
        Path(dump).write_text(
            "\n".join(" ".join(map(str, k)) + " " + v for k, v in sorted(RECORDER.seen.items()))
        )
    missing = undocumented(create_app().openapi(), RECORDER.seen.items())
    assert not missing, "errors the API answered that its OpenAPI schema does not document:\n" + (
        "\n".join(missing)
    )


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL server to create the test database on."""
    if url := os.environ.get("DATABASE_URL"):
        return url
    server = services.embedded_postgres(tmp_path_factory.mktemp("pg") / "data", keep=False)
    return server.get_uri()


@asynccontextmanager
async def fresh_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A database of its own on `server_url`, migrated; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = services.ensure_database(server_url, name)
    try:
        await migrate(url)
        yield url
    finally:
        services.drop_database(server_url, name)


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh database for this session, migrated; dropped at the end."""
    async with fresh_database(postgres_server_url, "assocflow_test") as url:
        yield url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, min_size=2, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture
def factory(pool: AsyncConnectionPool) -> Factory:
    return Factory(pool)


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(services.temporal_cli()),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(services.temporal_test_server()),
        data_converter=pydantic_data_converter,
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def task_queue() -> str:
    return f"assocflow-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def worker_metrics_url() -> str:
    return f"http://127.0.0.1:{services.free_port()}/metrics"


@pytest.fixture(scope="session")
async def dev_worker(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    task_queue: str,
    worker_metrics_url: str,
) -> AsyncIterator[Worker]:
    """The worker, as worker.py runs it: its client's runtime serves Prometheus metrics."""
    address = worker_metrics_url.removeprefix("http://").removesuffix("/metrics")
    client = await dev_env.connect_client(
        runtime=temporal_runtime(address), data_converter=pydantic_data_converter
    )
    async with build_worker(client, pool, task_queue, version=WORKER_VERSION) as worker:
        await versions.make_current_if_none(client, WORKER_VERSION)  # as worker.py does
        yield worker


@pytest.fixture(scope="session")
async def ts_worker(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> AsyncIterator[Worker]:
    # The time-skipping test server runs versioned workers' workflows without versioning.
    async with build_worker(ts_env.client, pool, task_queue, version=WORKER_VERSION) as worker:
        yield worker


def make_settings(database_url: str, task_queue: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, task_queue=task_queue, **overrides)


# Webhooks in tests go to receivers on this machine, and retry in milliseconds, not minutes.
ENCRYPTION_KEY = new_key()
WEBHOOKS = {
    "encryption_key": ENCRYPTION_KEY,
    "webhook_allow_private": True,
    "webhook_backoff_base": timedelta(milliseconds=50),
    "webhook_backoff_cap": timedelta(milliseconds=200),
    "webhook_timeout": timedelta(seconds=5),
}


# The suite's APIs admit any burst their tests send (fifty submits at once on one association, a
# client retrying through a fault), however slowly a fault lets it be answered: those tests are
# about races, faults and rules. Admission control, which refuses work above
# ASSOCFLOW_MAX_IN_FLIGHT and admits less after answers slower than ASSOCFLOW_ANSWER_WITHIN, has
# tests of its own (tests/api/test_admission.py, tests/unit/test_admission.py).
ADMITS_ANYTHING = {"max_in_flight": 10_000, "answer_within": 3600}  # settings; 3600 seconds
ADMITS_ANYTHING_ENV = {f"ASSOCFLOW_{k.upper()}": str(v) for k, v in ADMITS_ANYTHING.items()}


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    return make_settings(
        database_url,
        task_queue,
        operator_token="test-operator-token",
        **ADMITS_ANYTHING,
        **WEBHOOKS,
    )


@pytest.fixture
async def relay(settings: Settings, pool: AsyncConnectionPool) -> AsyncIterator[WebhookRelay]:
    """The webhook relay, running for one test."""
    relay = WebhookRelay(pool, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    yield relay
    stop.set()
    await task
    await relay.aclose()


@pytest.fixture
async def api(
    settings: Settings,
    pool: AsyncConnectionPool,
    dev_env: WorkflowEnvironment,
    dev_worker: Worker,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process, on the real database and the dev server, with a worker running."""
    async with api_client(settings, dev_env.client) as client:
        yield client


def api_client(settings: Settings, temporal: Client) -> httpx.AsyncClient:
    """The API in-process with its own connection pool, as in production (apart from the
    worker's)."""
    return _LifespanClient(create_app(settings, temporal=temporal))


class _LifespanClient(httpx.AsyncClient):
    """An httpx client on the ASGI app that also runs the app's lifespan."""

    def __init__(self, app) -> None:
        super().__init__(
            transport=httpx.ASGITransport(app=RECORDER.wrap(app)),
            base_url="http://assocflow.test",
        )
        self._app = app
        self._lifespan = None

    async def __aenter__(self) -> _LifespanClient:
        self._lifespan = self._app.router.lifespan_context(self._app)
        await self._lifespan.__aenter__()
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        await self._lifespan.__aexit__(*exc)
