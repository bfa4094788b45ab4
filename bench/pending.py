"""Many pending requests held by one worker: its memory, and how fast a decision on a request
that has waited long (its workflow long out of the worker's cache) comes back."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import psycopg
from temporalio.client import Client

from assocflow.settings import Settings
from bench import common
from devstack.stack import Stack
from domain.types import Actor, AssociationType, Side
from workflows import starter
from workflows.contract import SubmitCommand

SAMPLE_EVERY = 2.0


async def hold(
    stack: Stack,
    client: Client,
    population: common.Population,
    concurrency: int,
    samples: list[tuple[int, float]],
) -> float:
    """Start one request per party without waiting, then wait until all are pending; seconds.
    `samples` gets (requests pending, worker RSS in MB) every two seconds meanwhile."""
    policy = Settings(reminder_before="PT0S").policy()
    started = time.perf_counter()
    queue = list(population.parties)
    sampling = asyncio.create_task(_sample(stack, samples))

    async def runner() -> None:
        while queue:
            party = queue.pop()
            cmd = SubmitCommand(
                request_id=uuid.uuid4(), association_id=party.association_id,
                partner_id=population.partner_id, customer_id=party.customer_id,
                partner_name="Bench Reseller", customer_name="bench customer",
                association_type=AssociationType.RESALE, initiator=Side.CUSTOMER,
                requested_by=Actor(kind="customer", id=str(party.customer_id), side=Side.CUSTOMER),
                reason="bench", policy=policy,
            )  # fmt: skip
            await starter.start(client, cmd, stack.task_queue)

    try:
        await asyncio.gather(*(runner() for _ in range(concurrency)))
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            while True:
                if await _pending(conn) >= len(population.parties):
                    break
                await asyncio.sleep(0.5)
        return time.perf_counter() - started
    finally:
        sampling.cancel()
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            samples.append((await _pending(conn), common.rss_mb(stack.procs["worker"].pid)))


async def _pending(conn: psycopg.AsyncConnection[Any]) -> int:
    return await common.value(
        conn, int, "SELECT count(*) FROM disassociation_requests WHERE status = 'pending'"
    )


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
