"""The assocflow worker: runs the request workflows (every kind) and their activities.

python worker.py   or   assocflow worker     (configuration from the environment; see
assocflow/settings.py). It waits for PostgreSQL and Temporal when they are not up yet, and exits 0
on SIGINT or SIGTERM once running activities have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import NoReturn

import psycopg
import uvloop
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig

import contract
from activities.reconciler import ReconcilerActivities
from activities.requests import RequestActivities
from assocflow import logs
from assocflow.process import STOP_SIGNALS, first_success, run_main, stop_signals_interrupt
from assocflow.settings import Settings
from assocflow.temporal import connect, ensure_search_attributes
from assocflow.temporal import runtime as temporal_runtime
from store.accounts import AccountStandingSource, PostgresStanding
from store.db import migrate, open_pool
from webhooks.relay import WebhookRelay
from workflows import starter, versions
from workflows.reconciler import ReconcileWorkflow
from workflows.request import RequestWorkflow

log = logging.getLogger("assocflow.worker")

# Workflows run without Temporal's sandbox here: it imports the workflow module anew for every
# workflow and proxies every payload conversion, which cost a third of the worker's CPU
# (docs/PERFORMANCE.md). Determinism is still checked where it is cheap: the replay tests run
# every recorded path through the sandboxed Replayer, which refuses non-deterministic calls.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()
# On a stop, running activities (each one short transaction) get this long to finish, so that
# none is cut off mid-way and retried elsewhere for nothing.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Failures that mean "not up yet": the worker waits for the service instead of exiting.
DATABASE_DOWN = (psycopg.OperationalError, OSError)
TEMPORAL_DOWN = (RuntimeError, RPCError, OSError)


def deployment_config(version: WorkerDeploymentVersion) -> WorkerDeploymentConfig:
    """A worker that runs as `version` of its deployment (Worker Versioning): request workflows
    are pinned to the version they start on."""
    return WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def build_worker(
    client: Client,
    pool: AsyncConnectionPool,
    task_queue: str,
    standing: AccountStandingSource | None = None,
    *,
    version: WorkerDeploymentVersion,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = 100,
    workflows: Sequence[type] = (RequestWorkflow, ReconcileWorkflow),
) -> Worker:
    """The worker, as `version` of its deployment: it takes the requests started on that version
    (each request workflow is pinned to the version it started on) and, once the version is
    current, new ones."""
    acts = RequestActivities(pool, standing or PostgresStanding(pool))
    reconciler = ReconcilerActivities(pool, client)
    return Worker(
        client,
        task_queue=task_queue,
        deployment_config=deployment_config(version),
        workflow_runner=WORKFLOW_RUNNER,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflows=workflows,
        activities=[
            acts.accept_request,
            acts.settle_request,
            acts.send_reminder,
            acts.record_consent,
            reconciler.reconcile_orphans,
        ],
    )


def _delivery_counter(runtime: Runtime) -> Callable[[str], None]:
    counter = runtime.metric_meter.create_counter(
        contract.WEBHOOK_DELIVERIES, "Webhook delivery attempts by outcome."
    )
    return lambda outcome: counter.add(1, {"outcome": outcome})


async def main() -> None:
    settings = Settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    migrated = await first_success(
        "PostgreSQL", lambda: migrate(settings.database_url), stop, transient=DATABASE_DOWN
    )
    if migrated is None:
        return
    pool = await open_pool(
        settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    try:
        await _serve(settings, pool, stop)
    finally:
        await pool.close()
    log.info("worker stopped")


async def _serve(settings: Settings, pool: AsyncConnectionPool, stop: asyncio.Event) -> None:
    runtime = temporal_runtime(settings.worker_metrics_address or None)
    client = await first_success(
        "Temporal", lambda: connect(settings, runtime=runtime), stop, transient=TEMPORAL_DOWN
    )
    if client is None or await first_success(
        "Temporal's search attributes", lambda: ensure_search_attributes(client), stop,
        transient=TEMPORAL_DOWN,
    ) is None:  # fmt: skip
        return
    if settings.reconcile_interval and not await _schedule_reconciler(client, settings, stop):
        return
    relay = (
        WebhookRelay(pool, settings, on_outcome=_delivery_counter(runtime))
        if settings.webhook_relay
        else None
    )
    version = versions.version(settings.worker_deployment, settings.build_id)
    worker = build_worker(
        client,
        pool,
        settings.task_queue,
        version=version,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
    )
    async with worker:
        # Before saying it polls: a request started earlier would find no version to go to.
        made_current = await first_success(
            "the deployment's current version",
            lambda: versions.make_current_if_none(client, version),
            stop,
            transient=TEMPORAL_DOWN,
        )
        if made_current is None:  # stopped meanwhile
            return
        log.info(
            "worker polling task queue %r on %s as %s%s",
            settings.task_queue,
            client.service_client.config.target_host,
            version.to_canonical_string(),
            " (made current: the deployment had no current version)" if made_current else "",
        )
        relaying = asyncio.create_task(relay.run(stop)) if relay else None
        await stop.wait()
        log.info("worker stopping")
        if relay is not None and relaying is not None:
            await relaying
            await relay.aclose()


def serve() -> None:
    """Serve until SIGINT or SIGTERM (`assocflow worker` runs this)."""
    # The workflow sandbox imports the workflow module again for every workflow it starts:
    # without cached bytecode each of those is a compile. Keep the cache even where the
    # environment asks Python not to write one (PYTHONDONTWRITEBYTECODE).
    sys.dont_write_bytecode = False
    logs.configure()
    stop_signals_interrupt()  # until main() installs its own handlers: stop at once
    with contextlib.suppress(KeyboardInterrupt):
        # libuv's event loop: the activities' PostgreSQL I/O and the SDK's polls run on it, at
        # a tenth to a fifth less of the worker's CPU than on asyncio's own (docs/PERFORMANCE.md).
        uvloop.run(main())


async def _schedule_reconciler(client: Client, settings: Settings, stop: asyncio.Event) -> bool:
    """The reconciler's Schedule, created or brought up to date; False if stopped meanwhile."""
    created = await first_success(
        "the reconciler's schedule",
        lambda: starter.ensure_reconciler_schedule(
            client, settings.task_queue, settings.reconcile_interval
        ),
        stop,
        transient=TEMPORAL_DOWN,
    )
    if created is None:
        return False
    log.info(
        "reconciler schedule %s %s, every %s",
        starter.reconciler_schedule_id(settings.task_queue),
        "created" if created else "in place",
        settings.reconcile_interval,
    )
    return True


def run() -> NoReturn:
    """`python worker.py`: serve, then exit 0 once stopped."""
    run_main(serve)


if __name__ == "__main__":
    run()
