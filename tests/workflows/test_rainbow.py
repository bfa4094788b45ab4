"""A rainbow deploy on the dev server: requests started on build A keep running on A while a
changed workflow — one whose command sequence A's histories do not have, so it could never
replay them — takes new requests on build B. Both finish their requests; A drains.

This is how a workflow change ships (docs/DEPLOY.md, "Shipping a workflow change"): never as a
branch in the workflow, always as a new build beside the running one.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from contract import REQUEST_WORKFLOW, Outcome, SubmitCommand
from domain.types import Actor, Decision, DecisionAction, Side
from tests.factories import command
from worker import build_worker
from workflows import starter, versions
from workflows.request import RequestWorkflow

pytestmark = pytest.mark.devserver

REQUESTS_EACH = 3


@workflow.defn(
    name=REQUEST_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED, sandboxed=False
)
class ChangedRequestWorkflow(RequestWorkflow):
    """Today's workflow with a step before it admits the request (a timer A never started)."""

    @workflow.run
    async def run(self, cmd: SubmitCommand) -> Outcome:
        await workflow.sleep(timedelta(milliseconds=10))
        return await super().run(cmd)


async def build_of(client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def running_on(client, version: WorkerDeploymentVersion) -> int:
    query = (
        f"TemporalWorkerDeploymentVersion = '{version.to_canonical_string()}'"
        " AND ExecutionStatus = 'Running'"
    )
    return (await client.count_workflows(query)).count


async def test_a_changed_workflow_ships_beside_the_running_one(dev_env, pool, factory):
    client = dev_env.client
    deployment, queue = f"rainbow-{uuid.uuid4().hex[:8]}", f"rainbow-{uuid.uuid4().hex[:8]}"
    build_a = WorkerDeploymentVersion(deployment_name=deployment, build_id="A")
    build_b = WorkerDeploymentVersion(deployment_name=deployment, build_id="B")

    async def submit_some() -> list[SubmitCommand]:
        commands = [command(await factory.world(), Side.CUSTOMER) for _ in range(REQUESTS_EACH)]
        for cmd in commands:
            assert (await starter.submit(client, cmd, queue)).accepted
        return commands

    async def agree_to(commands: list[SubmitCommand]) -> None:
        for cmd in commands:
            agree = Decision(
                action=DecisionAction.AGREE,
                actor=Actor(kind="partner_user", id="p", side=Side.PARTNER),
            )
            settled = await starter.decide(client, f"disassociation-{cmd.request_id}", agree)
            assert settled.status.value == "agreed"

    async with build_worker(client, pool, queue, version=build_a):
        await versions.make_current(client, build_a)
        on_a = await submit_some()
        async with build_worker(
            client, pool, queue, version=build_b, workflows=[ChangedRequestWorkflow]
        ):
            await versions.make_current(client, build_b)
            assert await versions.current_build(client, deployment) == "B"
            on_b = await submit_some()

            for cmd in on_a:  # pinned where they started
                assert await build_of(client, f"disassociation-{cmd.request_id}") == "A"
            for cmd in on_b:
                assert await build_of(client, f"disassociation-{cmd.request_id}") == "B"
            await agree_to(on_a)  # answered by A, which still runs them
            await agree_to(on_b)

            # A drains: nothing runs on it any more (visibility catches up within moments).
            for _ in range(100):
                if await running_on(client, build_a) == 0:
                    break
                await asyncio.sleep(0.1)
            assert await running_on(client, build_a) == 0

    # B's requests really took another path: A's code cannot replay them.
    changed = await client.get_workflow_handle(
        f"disassociation-{on_b[0].request_id}"
    ).fetch_history()
    assert any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in changed.events)
    replayer = Replayer(workflows=[RequestWorkflow], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(changed)
    kept = await client.get_workflow_handle(f"disassociation-{on_a[0].request_id}").fetch_history()
    await replayer.replay_workflow(kept)


async def test_a_developers_stack_moves_what_replays_and_says_what_does_not(dev_env, pool, factory):
    """`make run` after a workflow change: one build runs at a time. Requests pinned to an
    earlier build move to the current one when their histories replay on today's code; one
    started on an incompatible build stays where it is, and is named."""
    client = dev_env.client
    deployment, queue = f"devstack-{uuid.uuid4().hex[:8]}", f"devstack-{uuid.uuid4().hex[:8]}"
    earlier, changed, today = (
        WorkerDeploymentVersion(deployment_name=deployment, build_id=build)
        for build in ("earlier", "changed", "today")
    )

    async def pending_on(version, workflows, count: int) -> list[SubmitCommand]:
        async with build_worker(client, pool, queue, version=version, workflows=workflows):
            await versions.make_current(client, version)
            commands = [command(await factory.world(), Side.CUSTOMER) for _ in range(count)]
            for cmd in commands:
                assert (await starter.submit(client, cmd, queue)).accepted
        return commands

    compatible = await pending_on(earlier, [RequestWorkflow], 2)
    [incompatible] = await pending_on(changed, [ChangedRequestWorkflow], 1)
    async with build_worker(client, pool, queue, version=today):
        await versions.make_current(client, today)
        result = await versions.move_what_replays(client, today, queue, [RequestWorkflow])
        assert sorted(s.workflow_id for s in result.moved) == sorted(
            f"disassociation-{cmd.request_id}" for cmd in compatible
        )
        assert [(s.workflow_id, s.build_id) for s in result.stuck] == [
            (f"disassociation-{incompatible.request_id}", "changed")
        ]
        for cmd in compatible:  # the build that runs now answers them
            agree = Decision(
                action=DecisionAction.AGREE,
                actor=Actor(kind="partner_user", id="p", side=Side.PARTNER),
            )
            settled = await starter.decide(client, f"disassociation-{cmd.request_id}", agree)
            assert settled.status.value == "agreed"
    await client.get_workflow_handle(f"disassociation-{incompatible.request_id}").terminate()
