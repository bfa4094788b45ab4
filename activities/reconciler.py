"""The reconciler: settles as `cancelled` every request pending in PostgreSQL whose workflow has
closed without an outcome (terminated, failed, timed out) or is missing, so that no request stays
pending past its deadline and no association stays blocked.

It runs every minute (ASSOCFLOW_RECONCILE_INTERVAL) as a Temporal Schedule (workflows/reconciler
.py), which the worker creates at start.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)
from temporalio.service import RPCError, RPCStatusCode

from contract import RECONCILE_WORKFLOW, REQUESTS_RECONCILED, ReconcileInput, ReconcileResult
from domain.types import RECONCILER, RequestStatus
from store import requests

log = logging.getLogger(__name__)


class ReconcilerActivities:
    def __init__(self, pool: AsyncConnectionPool, client: Client):
        self._pool = pool
        self._client = client

    @activity.defn
    async def reconcile_orphans(self, inp: ReconcileInput) -> ReconcileResult:
        now = datetime.now(UTC)
        candidates = await self._closed_while_open(now - timedelta(hours=inp.lookback_hours), inp)
        async with self._pool.connection() as conn:
            suspects = set(await requests.still_pending(conn, sorted(candidates)))
            suspects |= set(
                await requests.pending_overdue(
                    conn, now - timedelta(seconds=inp.overdue_grace_seconds), inp.batch
                )
            )
        repaired = []
        for workflow_id in sorted(suspects):
            closed = await self._why_closed(workflow_id)
            if closed is None:  # its workflow runs: it will settle the request itself
                continue
            cause, reason = closed
            async with self._pool.connection() as conn:
                request_id = await requests.of_workflow(conn, workflow_id)
                assert request_id is not None  # a suspect is a stored request's workflow
                settled = await requests.settle(
                    conn, request_id, RequestStatus.CANCELLED, RECONCILER, reason, now
                )
            if settled.decided_by != RECONCILER.ref:  # settled in between, by someone else
                continue
            repaired.append(request_id)
            activity.metric_meter().create_counter(
                REQUESTS_RECONCILED, "Requests settled as cancelled by the reconciler."
            ).add(1, {"cause": cause})
            log.warning(
                "request cancelled by the reconciler",
                extra={"request_id": str(request_id), "cause": cause, "reason": reason},
            )
        return ReconcileResult(repaired=repaired)

    async def _closed_while_open(self, since: datetime, inp: ReconcileInput) -> list[str]:
        """Requests whose workflow closed while its search attribute still said checking or
        pending: what a workflow that settles never leaves behind."""
        query = (
            f"WorkflowType != '{RECONCILE_WORKFLOW}' AND ExecutionStatus != 'Running'"
            " AND RequestStatus IN ('checking', 'pending')"
            f" AND CloseTime > '{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        )
        return [
            execution.id async for execution in self._client.list_workflows(query, limit=inp.batch)
        ]

    async def _why_closed(self, workflow_id: str) -> tuple[str, str] | None:
        """(cause, reason) if the request's workflow has closed or does not exist; None while it
        runs."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return "missing", "Its workflow does not exist."
            raise
        status = described.status
        if status is WorkflowExecutionStatus.RUNNING:
            return None
        if status is WorkflowExecutionStatus.TERMINATED:
            event = await self._close_event(handle)
            attributes = event.workflow_execution_terminated_event_attributes
            who = attributes.identity or "an unknown identity"
            why = f": {attributes.reason}" if attributes.reason else ""
            return "terminated", f"Its workflow was terminated by {who}{why}."
        if status is WorkflowExecutionStatus.FAILED:
            event = await self._close_event(handle)
            failure = event.workflow_execution_failed_event_attributes.failure.message
            return "failed", f"Its workflow failed: {failure or 'no reason given'}."
        if status is WorkflowExecutionStatus.TIMED_OUT:
            return "timed_out", "Its workflow timed out."
        if status is WorkflowExecutionStatus.CANCELED:
            return "cancelled", "Its workflow was cancelled before it could settle the request."
        state = status.name.lower() if status is not None else "in an unknown state"
        return "closed", f"Its workflow closed ({state}) without an outcome."

    async def _close_event(self, handle: WorkflowHandle[Any, Any]) -> HistoryEvent:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            return event
        raise LookupError("a closed workflow without a close event")
