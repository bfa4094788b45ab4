"""Which worker build runs which requests (Temporal Worker Versioning).

A request's workflow is pinned to the build it started on and runs there to its end; a changed
workflow ships as a new build beside the old one, which drains (docs/DEPLOY.md, "Shipping a
workflow change"). A build's id derives from the code a workflow runs, so a worker restarted
without a workflow change keeps its version, and any change to that code is a new version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as DeploymentVersion
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from contract import RECONCILE_WORKFLOW

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
# What a workflow runs: its own modules and the domain's rules. (Activities run outside the
# workflow: a change to them needs no new version, only a restart.)
WORKFLOW_CODE = (
    "workflows/request.py",
    "workflows/reconciler.py",
    "workflows/operators.py",
    "contract",
    "domain",
)


def code_build_id(root: Path = ROOT) -> str:
    """A build id from the workflow code: the same code, the same id, on any machine."""
    digest = hashlib.sha256()
    for entry in WORKFLOW_CODE:
        target = root / entry
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in files:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return f"wf-{digest.hexdigest()[:12]}"


def version(deployment: str, build_id: str | None = None) -> WorkerDeploymentVersion:
    """This worker's version: the deployment, and the given build id or the code's."""
    return WorkerDeploymentVersion(deployment_name=deployment, build_id=build_id or code_build_id())


async def current_build(client: Client, deployment: str) -> str | None:
    """The build id new requests go to, or None (no such deployment yet, or none current)."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    current = described.worker_deployment_info.routing_config.current_deployment_version
    return current.build_id or None


async def make_current(
    client: Client, wanted: WorkerDeploymentVersion, *, within: float = 30.0
) -> None:
    """Send new requests to `wanted` from now on. A version is known once one of its workers has
    polled: until then (and at most `within` seconds) this tries again."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=wanted.deployment_name,
        build_id=wanted.build_id,
        identity="assocflow",
    )
    async with asyncio.timeout(within):
        while True:
            try:
                await client.workflow_service.set_worker_deployment_current_version(request)
                log.info("worker version %s is current", wanted.to_canonical_string())
                return
            except RPCError as error:
                if error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise
            await asyncio.sleep(0.2)


async def make_current_if_none(client: Client, wanted: WorkerDeploymentVersion) -> bool:
    """The first build of a deployment makes itself current; a later one waits for the operator
    (or `make run`) to make it so. True if `wanted` was made current here."""
    if await current_build(client, wanted.deployment_name) is not None:
        return False
    await make_current(client, wanted)
    return True


@dataclass(frozen=True)
class Stranded:
    """A running request whose build no longer runs here."""

    workflow_id: str
    build_id: str  # empty: started before the deployment was versioned


@dataclass(frozen=True)
class Moved:
    moved: list[Stranded]
    stuck: list[Stranded]


async def running_elsewhere(
    client: Client, current: WorkerDeploymentVersion, task_queue: str
) -> list[Stranded]:
    """Running request workflows of `task_queue` that are not on `current`: every workflow but
    the reconciler's, whatever its type was called by the build that started it."""
    found = []
    query = (
        f"WorkflowType != '{RECONCILE_WORKFLOW}' AND ExecutionStatus = 'Running'"
        f" AND TaskQueue = '{task_queue}'"
    )
    async for execution in client.list_workflows(query):
        # Visibility's list leaves the versioning out; the workflow's description has it.
        described = await client.get_workflow_handle(execution.id).describe()
        info = described.raw_description.workflow_execution_info.versioning_info
        pinned = info.deployment_version
        if (pinned.deployment_name, pinned.build_id) != (
            current.deployment_name,
            current.build_id,
        ):
            found.append(Stranded(execution.id, pinned.build_id))
    return found


async def move_what_replays(
    client: Client, current: WorkerDeploymentVersion, task_queue: str, workflows: Sequence[type]
) -> Moved:
    """After the current build changed where only one build runs (a developer's stack): each
    request still pinned to another build moves to `current` if its history replays on today's
    code (then the change did not touch its path, and it goes on where it is); the others stay
    where they are, to be drained by their own build or ended by hand."""
    replayer = Replayer(workflows=workflows, data_converter=pydantic_data_converter)
    moved, stuck = [], []
    for request in await running_elsewhere(client, current, task_queue):
        history = await client.get_workflow_handle(request.workflow_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            stuck.append(request)
            continue
        await client.workflow_service.update_workflow_execution_options(
            UpdateWorkflowExecutionOptionsRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=request.workflow_id),
                workflow_execution_options=WorkflowExecutionOptions(
                    versioning_override=VersioningOverride(
                        pinned=VersioningOverride.PinnedOverride(
                            behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED,
                            version=DeploymentVersion(
                                deployment_name=current.deployment_name,
                                build_id=current.build_id,
                            ),
                        )
                    )
                ),
                update_mask=FieldMask(paths=["versioning_override"]),
                identity="assocflow",
            )
        )
        moved.append(request)
    return Moved(moved, stuck)
