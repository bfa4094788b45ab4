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
from pathlib import Path

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
# What a workflow runs: its own modules and the domain's rules. (Activities run outside the
# workflow: a change to them needs no new version, only a restart.)
WORKFLOW_CODE = (
    "workflows/disassociation.py",
    "workflows/reconciler.py",
    "workflows/operators.py",
    "workflows/contract.py",
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
