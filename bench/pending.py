"""Many pending requests held by one worker: its memory, and how fast a decision on a request
that has waited long (its workflow long out of the worker's cache) comes back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from assocflow.settings import Settings
from bench import common
from bench.baseline import BaselineLocalWorkflow
from bench.lifecycle import WINDOW_SECONDS
from contract import SubmitCommand
from devstack.stack import Stack
from domain.types import Actor, AssociationType, Side
from workflows import starter

SAMPLE_EVERY = 2.0


async def hold(
    stack: Stack,
    client: Client,
    population: common.Population,
    concurrency: int,
    samples: list[tuple[int, float]],
) -> float:
    """Submit one request per party, `concurrency` at a time, the way the API does (one
    update-with-start that returns once the request is accepted); seconds until all are pending.
    `samples` gets (requests pending, worker RSS in MB) every two seconds meanwhile."""
    policy = Settings(reminder_before="PT0S").policy()
    queue = list(population.parties)
    sampling = asyncio.create_task(_sample(stack, samples))

    async def submit() -> None:
        party = queue.pop()
        cmd = SubmitCommand(
            request_id=uuid.uuid4(), association_id=party.association_id,
            partner_id=population.partner_id, customer_id=party.customer_id,
            partner_name="Bench Reseller", customer_name="bench customer",
            association_type=AssociationType.RESALE, initiator=Side.CUSTOMER,
            requested_by=Actor(kind="customer", id=str(party.customer_id), side=Side.CUSTOMER),
            reason="bench", policy=policy,
        )  # fmt: skip
        admission = await starter.submit(client, cmd, stack.task_queue)
        assert admission.accepted, admission

    try:
        seconds = await _all(submit, len(queue), concurrency)
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            assert await _pending(conn) == len(population.parties)
        return seconds
    finally:
        sampling.cancel()
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            samples.append((await _pending(conn), common.rss_mb(stack.procs["worker"].pid)))


async def hold_bare(client: Client, task_queue: str, count: int, concurrency: int) -> float:
    """The same on bare Temporal: `count` local-activity baselines (two steps that do nothing
    before admission, then a timer) started with update-with-start until admitted; seconds."""

    async def admit() -> None:
        start = WithStartWorkflowOperation(
            BaselineLocalWorkflow.run,
            WINDOW_SECONDS,
            id=f"baseline-{uuid.uuid4()}",
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        await client.execute_update_with_start_workflow(
            BaselineLocalWorkflow.admission, start_workflow_operation=start
        )

    return await _all(admit, count, concurrency)


async def _all(one: Callable[[], Awaitable[None]], count: int, concurrency: int) -> float:
    """Run `one` `count` times, `concurrency` at a time; seconds."""
    left = count

    async def runner() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return time.perf_counter() - started


async def _pending(conn: psycopg.AsyncConnection[Any]) -> int:
    return await common.value(conn, int, "SELECT count(*) FROM requests WHERE status = 'pending'")


async def _sample(stack: Stack, samples: list[tuple[int, float]]) -> None:
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        while True:
            samples.append((await _pending(conn), common.rss_mb(stack.procs["worker"].pid)))
            await asyncio.sleep(SAMPLE_EVERY)


async def decide_on(api: str, population: common.Population, request_id: str) -> float:
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        started = time.perf_counter()
        response = await http.post(
            f"/v1/disassociations/{request_id}/agree",
            headers={"Authorization": f"Bearer {population.partner_token}"},
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed
