"""Full lifecycles through the HTTP API (submit -> check -> accept -> agree -> association ended
-> notifications written), against the bare Temporal baseline of the same shape on the same
server: throughput (closed loop) and latency (open loop)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from bench.baseline import BaselineLocalWorkflow, BaselineWorkflow
from bench.common import Party, Population

WINDOW_SECONDS = 864000.0  # ten days: nothing times out during a run


@dataclass
class Latencies:
    submit: list[float] = field(default_factory=list)
    decide: list[float] = field(default_factory=list)
    # Above capacity (admission control, ASSOCFLOW_MAX_IN_FLIGHT): how long each refusal took.
    refused_submit: list[float] = field(default_factory=list)
    refused_decide: list[float] = field(default_factory=list)


class Assocflow:
    """One lifecycle through the API, as a partner's and a customer's systems would drive it."""

    def __init__(self, api: str, population: Population, concurrency: int):
        # No cap on connections: in the open loop each arrival is a caller of its own, and a cap
        # here would queue them in this client, out of the server's sight (the closed loop keeps
        # `concurrency` lifecycles going by itself).
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
        self.http = httpx.AsyncClient(base_url=api, timeout=60, limits=limits)
        self.partner = {"Authorization": f"Bearer {population.partner_token}"}

    async def lifecycle(self, party: Party, latencies: Latencies) -> None:
        """Submit, then agree. A submit refused at capacity (503) is shed: that caller comes back
        later, outside this run. A decision refused at capacity is sent again after its
        Retry-After, since the request it decides was accepted and must not be lost."""
        started = time.perf_counter()
        submitted = await self.http.post(
            "/v1/disassociations",
            json={"association_id": party.association_id, "reason": "bench", "acknowledged": True},
            headers={"Authorization": f"Bearer {party.customer_token}"},
        )
        if submitted.status_code == 503:
            latencies.refused_submit.append(time.perf_counter() - started)
            return
        assert submitted.status_code == 201, submitted.text
        latencies.submit.append(time.perf_counter() - started)
        while True:
            started = time.perf_counter()
            agreed = await self.http.post(
                f"/v1/disassociations/{submitted.json()['id']}/agree", headers=self.partner
            )
            if agreed.status_code != 503:
                break
            latencies.refused_decide.append(time.perf_counter() - started)
            await asyncio.sleep(float(agreed.headers.get("retry-after", "1")))
        assert agreed.status_code == 200 and agreed.json()["status"] == "agreed", agreed.text
        latencies.decide.append(time.perf_counter() - started)

    async def aclose(self) -> None:
        await self.http.aclose()


class Baseline:
    """The same shape on bare Temporal: update-with-start until admitted, then an Update; with
    regular activities, or with `local` ones."""

    def __init__(self, client: Client, task_queue: str, *, local: bool = False):
        self.client = client
        self.task_queue = task_queue
        self.last_workflow_id = ""
        self.workflow: type[BaselineWorkflow] | type[BaselineLocalWorkflow] = (
            BaselineLocalWorkflow if local else BaselineWorkflow
        )

    async def lifecycle(self, _: Party, latencies: Latencies) -> None:
        """As assocflow's, but the only refusal is Temporal's own: far above capacity the dev
        server turns away the waits for an Update's result ("namespace concurrent poller limit
        exceeded", RESOURCE_EXHAUSTED); a refused start is shed, a refused decision sent again."""
        workflow_id = f"baseline-{uuid.uuid4()}"
        started = time.perf_counter()
        start = WithStartWorkflowOperation(
            self.workflow.run,
            WINDOW_SECONDS,
            id=workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        try:
            await self.client.execute_update_with_start_workflow(
                self.workflow.admission, start_workflow_operation=start
            )
        except RPCError as refused:
            if refused.status is not RPCStatusCode.RESOURCE_EXHAUSTED:
                raise
            latencies.refused_submit.append(time.perf_counter() - started)
            return
        latencies.submit.append(time.perf_counter() - started)
        handle = self.client.get_workflow_handle(workflow_id)
        while True:
            started = time.perf_counter()
            try:
                await handle.execute_update(self.workflow.decide, "agree")
                break
            except RPCError as refused:
                if refused.status is not RPCStatusCode.RESOURCE_EXHAUSTED:
                    raise
                latencies.refused_decide.append(time.perf_counter() - started)
                await asyncio.sleep(1)
        latencies.decide.append(time.perf_counter() - started)
        self.last_workflow_id = workflow_id


Lifecycle = Callable[[Party, Latencies], Coroutine[Any, Any, None]]


async def closed_loop(
    lifecycle: Lifecycle, parties: list[Party], concurrency: int
) -> tuple[float, Latencies]:
    """Run one lifecycle per party, `concurrency` at a time; returns lifecycles per second."""
    latencies = Latencies()
    queue = list(parties)

    async def runner() -> None:
        while queue:
            await lifecycle(queue.pop(), latencies)

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return len(parties) / (time.perf_counter() - started), latencies


async def open_loop(lifecycle: Lifecycle, parties: list[Party], rate: float) -> Latencies:
    """Start a lifecycle every 1/rate seconds whatever the answers (no coordinated omission)."""
    latencies = Latencies()
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for n, party in enumerate(parties):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(lifecycle(party, latencies)))
    await asyncio.gather(*tasks)
    return latencies
