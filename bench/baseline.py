"""The bare Temporal baselines: workflows of the same shape as a disassociation request (two
activities before it is admitted, one Update that runs a third, one timer for the deadline)
whose activities do nothing — `Baseline` with regular activities, `BaselineLocal` with local
activities, as assocflow's own steps are. `python -m bench.baseline ADDRESS TASK_QUEUE` runs its worker with
the same worker settings as assocflow's."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta

import uvloop
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from assocflow.process import run_main

TIMEOUT = timedelta(seconds=10)


@activity.defn
async def noop_check(n: int) -> int:
    return n


@activity.defn
async def noop_accept(n: int) -> int:
    return n


@activity.defn
async def noop_settle(n: int) -> int:
    return n


@workflow.defn(name="Baseline")
class BaselineWorkflow:
    def __init__(self) -> None:
        self._admitted = False
        self._decided: str | None = None

    @workflow.run
    async def run(self, window_seconds: float) -> str:
        await self._step(noop_check, 1)
        await self._step(noop_accept, 2)
        self._admitted = True
        try:
            await workflow.wait_condition(lambda: self._decided is not None, timeout=window_seconds)
        except TimeoutError:
            self._decided = "timeout"
            await self._step(noop_settle, 3)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._decided or ""

    @workflow.update
    async def admission(self) -> bool:
        await workflow.wait_condition(lambda: self._admitted)
        return True

    @workflow.update
    async def decide(self, action: str) -> str:
        self._decided = action
        await self._step(noop_settle, 3)
        return action

    async def _step(self, activity: Callable[[int], Awaitable[int]], n: int) -> int:
        return await workflow.execute_activity(activity, n, start_to_close_timeout=TIMEOUT)


@workflow.defn(name="BaselineLocal")
class BaselineLocalWorkflow(BaselineWorkflow):
    """The same workflow, its steps run as local activities."""

    @workflow.run
    async def run(self, window_seconds: float) -> str:
        return await super().run(window_seconds)

    async def _step(self, activity: Callable[[int], Awaitable[int]], n: int) -> int:
        return await workflow.execute_local_activity(activity, n, start_to_close_timeout=TIMEOUT)


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    # The same worker settings as worker.py's.
    async with Worker(
        client,
        task_queue=task_queue,
        workflow_runner=UnsandboxedWorkflowRunner(),
        workflows=[BaselineWorkflow, BaselineLocalWorkflow],
        activities=[noop_check, noop_accept, noop_settle],
        max_concurrent_activities=100,
        max_concurrent_workflow_tasks=100,
    ):
        await stop.wait()


if __name__ == "__main__":
    # The same event loop as worker.py's.
    run_main(lambda: uvloop.run(main(sys.argv[1], sys.argv[2])))
