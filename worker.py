"""The assocflow worker: runs the disassociation workflows and their activities.

python worker.py        (configuration from the environment; see assocflow/settings.py)
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.disassociation import DisassociationActivities
from assocflow import logs, metrics
from assocflow.settings import Settings
from assocflow.temporal import connect, ensure_search_attributes
from assocflow.temporal import runtime as temporal_runtime
from store.accounts import AccountStandingSource, PostgresStanding
from store.db import migrate, open_pool
from webhooks.relay import WebhookRelay
from workflows.disassociation import DisassociationWorkflow

log = logging.getLogger("assocflow.worker")

# Workflows run without Temporal's sandbox here: it imports the workflow module anew for every
# workflow and proxies every payload conversion, which cost a third of the worker's CPU
# (docs/PERFORMANCE.md). Determinism is still checked where it is cheap: the replay tests run
# every recorded path through the sandboxed Replayer, which refuses non-deterministic calls.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    pool: AsyncConnectionPool,
    task_queue: str,
    standing: AccountStandingSource | None = None,
    *,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = 100,
) -> Worker:
    acts = DisassociationActivities(pool, standing or PostgresStanding(pool))
    return Worker(
        client,
        task_queue=task_queue,
        workflow_runner=WORKFLOW_RUNNER,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        workflows=[DisassociationWorkflow],
        activities=[
            acts.run_account_check,
            acts.accept_request,
            acts.settle_request,
            acts.send_reminder,
        ],
    )


def _delivery_counter(runtime: Runtime) -> Callable[[str], None]:
    counter = runtime.metric_meter.create_counter(
        metrics.WEBHOOK_DELIVERIES, "Webhook delivery attempts by outcome."
    )
    return lambda outcome: counter.add(1, {"outcome": outcome})


async def main() -> None:
    settings = Settings()
    await migrate(settings.database_url)
    pool = await open_pool(
        settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    try:
        runtime = temporal_runtime(settings.worker_metrics_address or None)
        client = await connect(settings, runtime=runtime)
        await ensure_search_attributes(client)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        relay = (
            WebhookRelay(pool, settings, on_outcome=_delivery_counter(runtime))
            if settings.webhook_relay
            else None
        )
        worker = build_worker(
            client,
            pool,
            settings.task_queue,
            max_concurrent_activities=settings.worker_max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        )
        async with worker:
            log.info(
                "worker polling task queue %r on %s", settings.task_queue, settings.temporal_address
            )
            relaying = asyncio.create_task(relay.run(stop)) if relay else None
            await stop.wait()
            log.info("worker stopping")
            if relay is not None and relaying is not None:
                await relaying
                await relay.aclose()
    finally:
        await pool.close()


if __name__ == "__main__":
    # The workflow sandbox imports the workflow module again for every workflow it starts:
    # without cached bytecode each of those is a compile. Keep the cache even where the
    # environment asks Python not to write one (PYTHONDONTWRITEBYTECODE).
    sys.dont_write_bytecode = False
    logs.configure()
    asyncio.run(main())
