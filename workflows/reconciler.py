"""The reconciler's workflow, started every minute by the `assocflow-reconciler` Schedule (see
workflows/starter.py): one activity that settles requests whose workflow closed without an
outcome (activities/reconciler.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities.reconciler import ReconcilerActivities
    from contract import RECONCILE_WORKFLOW, ReconcileInput, ReconcileResult


# Auto-upgrade: a round is short and holds no state worth pinning; it runs on whichever build is
# current.
@workflow.defn(name=RECONCILE_WORKFLOW, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ReconcileWorkflow:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileResult:
        # The next round comes within the minute: a round that keeps failing gives up rather than
        # piling up behind the schedule (which skips rounds while one runs).
        return await workflow.execute_activity_method(
            ReconcilerActivities.reconcile_orphans,
            inp,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary="Settle requests whose workflow closed without an outcome",
        )
